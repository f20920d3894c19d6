package probe_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/probe"
)

func TestExec(t *testing.T) {
	dir := t.TempDir()
	runFlow(t, []flowCase{
		{"measures a non-zero exit", `{exec: {command: [sh, -c, "echo hi; echo oops >&2; exit 3"]}, expect: {exitCode: 3, stdout: "^hi\n$", stderr: "oops"}}`, true, ""},
		{"non-zero exit fails its expectation", `{exec: {command: ["false"]}, expect: {exitCode: 0}}`, false, "exitCode 1, want 0"},
		{"exit code list", `{exec: {command: [sh, -c, "exit 2"]}, expect: {exitCode: [0, 2]}}`, true, ""},
		{"stdout mismatch", `{exec: {command: [echo, degraded]}, expect: {stdout: "^ok"}}`, false, `stdout "degraded\n", want ^ok`},
		{"duration", `{exec: {command: [sleep, "0.2"]}, expect: {duration: ">= 200ms", exitCode: 0}}`, true, ""},
		{"killed by a signal", `{exec: {command: [sh, -c, "kill -TERM $$"]}, expect: {exitCode: 143}}`, true, ""},
		{"env and dir", `{exec: {command: [sh, -c, "echo $FAULTLINE_TEST_VAR; pwd"], env: {FAULTLINE_TEST_VAR: hello}, dir: "` + dir + `"}, expect: {stdout: "^hello\n` + dir + `\n$"}}`, true, ""},
		{"cannot start", `{exec: {command: [faultline-no-such-command]}, expect: {exitCode: 0}}`, false, "cannot start faultline-no-such-command: executable file not found in $PATH"},
		{"missing dir", `{exec: {command: ["true"], dir: "` + filepath.Join(dir, "nope") + `"}, expect: {exitCode: 0}}`, false, "cannot start true: working directory: stat " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"timeout", `{exec: {command: [sleep, "10"], timeout: 100ms}, expect: {exitCode: 0}}`, false, "sleep: timed out after 100ms; its process group was killed"},
	})
}

// TestExecTimeoutKillsTheProcessGroup runs a shell that starts a child and
// waits for it: when the timeout strikes, the child must die with it.
func TestExecTimeoutKillsTheProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	start := time.Now()
	got := runCheck(t, `{exec: {command: [sh, -c, "sleep 30 & echo $! > `+pidFile+`; wait"], timeout: 300ms}, expect: {exitCode: 0}}`)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s with a 300ms timeout", took)
	}
	if got.OK || !strings.Contains(got.Err, "timed out after 300ms") {
		t.Fatalf("error %q, want a timeout", got.Err)
	}
	if _, ok := got.Values["exitCode"]; ok {
		t.Errorf("exit code measured for a killed command: %v", got.Values)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the shell wrote no child pid: %v", err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !gone(child) {
		if time.Now().After(deadline) {
			syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("child %d still runs after the timeout", child)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gone reports whether pid no longer runs: it does not exist, or it is a
// zombie waiting for a parent that reaps orphans.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	return strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// TestExecLeftBehindOutput runs a command that exits at once but leaves a
// process holding its stdout: the probe must not wait for that process.
func TestExecLeftBehindOutput(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	start := time.Now()
	got := runCheck(t, `{exec: {command: [sh, -c, "echo started; sleep 30 & echo $! > `+pidFile+`"]}, expect: {exitCode: 0, stdout: "^started"}}`)
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s: the probe waited for a process left behind", took)
	}
	if !got.OK {
		t.Fatalf("failures %q", got.Failures)
	}
	if !strings.Contains(got.Detail, "output cut") {
		t.Errorf("detail %q does not say the output was cut", got.Detail)
	}
}

func TestExecHonoursContext(t *testing.T) {
	c := parseCheck(t, `{exec: {command: [sleep, "10"], timeout: 10s}, expect: {exitCode: 0}}`)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	got := probe.Run(ctx, c)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s after the context was cancelled", took)
	}
	if want := "sleep: interrupted: context canceled"; !strings.Contains(got.Err, want) {
		t.Errorf("error %q, want %q", got.Err, want)
	}
}

func TestExecInvalid(t *testing.T) {
	runInvalid(t, []invalidCase{
		{"missing command", `{exec: {timeout: 1s}}`, []string{"exec.command", "required field is missing"}},
		{"empty command", `{exec: {command: []}}`, []string{"exec.command", "give the program and its arguments"}},
		{"empty program", `{exec: {command: [""]}}`, []string{"exec.command", "give the program"}},
		{"command as a string", `{exec: {command: "echo hi"}}`, []string{"exec.command", "want a list"}},
		{"zero timeout", `{exec: {command: ["true"], timeout: 0s}}`, []string{"exec.timeout", "above zero"}},
		{"bad env name", `{exec: {command: ["true"], env: {"A=B": c}}}`, []string{"exec.env.A=B", "bad variable name"}},
	})
}
