package probe_test

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// startSleeps starts n sleep processes whose command line no other process
// has, and returns them with that command line's argument.
func startSleeps(t *testing.T, n int) ([]*exec.Cmd, string) {
	t.Helper()
	// A long sleep with a fraction of a second unique to this test run.
	arg := fmt.Sprintf("300.%d%06d", os.Getpid(), time.Now().UnixNano()%1e6)
	cmds := make([]*exec.Cmd, n)
	for i := range cmds {
		cmd := exec.Command("sleep", arg)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stopSleep(cmd) })
		cmds[i] = cmd
	}
	return cmds, arg
}

// stopSleep kills and reaps a sleep; doing it twice is harmless.
func stopSleep(cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

func TestProcess(t *testing.T) {
	cmds, arg := startSleeps(t, 2)
	cmdline := "^sleep " + regexp.QuoteMeta(arg) + "$"
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "sleep.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmds[0].Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	runFlow(t, []flowCase{
		{"counts matches", `{process: {cmdline: '` + cmdline + `'}, expect: {count: 2}}`, true, ""},
		{"count too low", `{process: {cmdline: '` + cmdline + `'}, expect: {count: ">= 3"}}`, false, "count 2, want >= 3"},
		{"name and user", `{process: {name: sleep, user: ` + me.Username + `, cmdline: '` + cmdline + `'}, expect: {count: 2}}`, true, ""},
		{"other user", `{process: {user: faultline-nobody, cmdline: '` + cmdline + `'}, expect: {count: 0}}`, true, ""},
		{"pid", `{process: {pid: ` + strconv.Itoa(cmds[1].Process.Pid) + `}, expect: {count: 1}}`, true, ""},
		{"pidfile", `{process: {pidfile: "` + pidFile + `"}, expect: {count: 1}}`, true, ""},
		{"pidfile and a cmdline it does not match", `{process: {pidfile: "` + pidFile + `", cmdline: "^nginx"}, expect: {count: 0}}`, true, ""},
		{"missing pidfile counts none", `{process: {pidfile: "` + filepath.Join(dir, "none.pid") + `"}, expect: {count: 0}}`, true, ""},
		{"missing pidfile fails a count", `{process: {pidfile: "` + filepath.Join(dir, "none.pid") + `"}, expect: {count: 1}}`, false, "count 0, want 1"},
	})

	stopSleep(cmds[0])
	runFlow(t, []flowCase{
		{"one fewer after a kill", `{process: {cmdline: '` + cmdline + `'}, expect: {count: 1}}`, true, ""},
		{"pidfile of a dead process", `{process: {pidfile: "` + pidFile + `"}, expect: {count: 0}}`, true, ""},
	})
}

func TestProcessDetail(t *testing.T) {
	cmds, arg := startSleeps(t, 1)
	got := runCheck(t, `{process: {cmdline: '^sleep `+regexp.QuoteMeta(arg)+`$'}, expect: {count: 1}}`)
	if want := "pid " + strconv.Itoa(cmds[0].Process.Pid); got.Detail != want {
		t.Errorf("detail %q, want %q", got.Detail, want)
	}
}

func TestProcessErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pid")
	if err := os.WriteFile(bad, []byte("not a pid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runFlow(t, []flowCase{
		{"pidfile without a pid", `{process: {pidfile: "` + bad + `"}, expect: {count: 0}}`, false, "does not hold a pid"},
		{"pidfile is a directory", `{process: {pidfile: "` + dir + `"}, expect: {count: 0}}`, false, "find processes: read pidfile"},
	})
}

func TestProcessInvalid(t *testing.T) {
	runInvalid(t, []invalidCase{
		{"empty selector", `{process: {}}`, []string{"process", "empty selector"}},
		{"negative pid", `{process: {pid: -1}}`, []string{"process.pid", "positive"}},
		{"bad regexp", `{process: {cmdline: "sleep ("}}`, []string{"process.cmdline", "bad regular expression"}},
		{"misspelt field", `{process: {cmdlin: sleep}}`, []string{"process.cmdlin", `did you mean "cmdline"`}},
	})
}
