package exec_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/exec"
	"github.com/faultline-dev/faultline/fault/faulttest"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/target"
)

func TestBackgroundConformance(t *testing.T) {
	faulttest.Run(t, faulttest.Case{
		Kind: "exec",
		Params: func(*testing.T) any {
			return params(func(p *exec.Params) { p.Command, p.Background = faulttest.Sleeper(), true })
		},
		Applied: anyTagged,
	})
}

// TestBackgroundGroupConformance runs a background shell with children of
// its own: recovery must end them all.
func TestBackgroundGroupConformance(t *testing.T) {
	faulttest.Run(t, faulttest.Case{
		Kind: "exec",
		Params: func(*testing.T) any {
			return params(func(p *exec.Params) {
				p.Command = []string{"sh", "-c", strings.Join(faulttest.Sleeper(), " ") + " & " + strings.Join(faulttest.Sleeper(), " ") + "; wait"}
				p.Background = true
			})
		},
		Applied: anyTagged,
	})
}

func TestCommandAndRecoverConformance(t *testing.T) {
	faulttest.Run(t, faulttest.Case{
		Kind: "exec",
		Params: func(t *testing.T) any {
			marker := filepath.Join(t.TempDir(), "fault-on")
			return params(func(p *exec.Params) {
				p.Command = []string{"touch", marker}
				p.Recover = []string{"rm", "-f", marker}
			})
		},
		Applied: func(t *testing.T, rec *fault.Record) bool {
			var p exec.Params
			if err := rec.DecodeParams(&p); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(p.Command[1])
			return err == nil
		},
	})
}

func TestEnvironmentDirAndProcessGroup(t *testing.T) {
	kind := lookup(t)
	dir := t.TempDir()
	// Each command reports its tag, an env value, its directory, and
	// whether it leads its own process group.
	report := func(out string) []string {
		return []string{"sh", "-c", `read -r _ _ _ _ pgid _ < /proc/$$/stat; printf '%s|%s|%s|%s' "$FAULTLINE_FAULT_ID" "$GREETING" "$PWD" "$([ "$pgid" = $$ ] && echo leader)" > ` + out}
	}
	p := params(func(p *exec.Params) {
		p.Command, p.Recover = report("inject.out"), report("recover.out")
		p.Env = map[string]string{"GREETING": "hello"}
		p.Dir = dir
	})
	rec := faulttest.NewRecord(t, "exec", p, target.LocalHost())
	if err := kind.Preflight(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if err := kind.Inject(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if err := kind.Recover(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	for file, tag := range map[string]string{"inject.out": rec.ID, "recover.out": rec.ID + "/recover"} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(b), tag+"|hello|"+dir+"|leader"; got != want {
			t.Errorf("%s: got %q, want %q", file, got, want)
		}
	}
}

func TestFailureCarriesStderrTail(t *testing.T) {
	kind := lookup(t)
	tests := []struct {
		name   string
		script string
		want   []string
		absent string
	}{
		{"exit status", `echo "table users: no such table" >&2; exit 3`, []string{"exit status 3", "table users: no such table"}, ""},
		{"long stderr keeps its end", `echo "HEAD$((1+1))" >&2; head -c 10000 /dev/zero | tr '\0' x >&2; echo "END$((1+1))" >&2; exit 1`, []string{"exit status 1", "END2"}, "HEAD2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := params(func(p *exec.Params) { p.Command = []string{"sh", "-c", tt.script} })
			err := kind.Inject(context.Background(), faulttest.NewRecord(t, "exec", p, target.LocalHost()))
			if err == nil {
				t.Fatal("Inject of a failing command succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tt.absent != "" && strings.Contains(err.Error(), tt.absent) {
				t.Errorf("error carries all of stderr, want its tail: %.100q…", err)
			}
			if len(err.Error()) > 3000 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}
}

func TestTimeoutKillsTheWholeGroup(t *testing.T) {
	kind := lookup(t)
	p := params(func(p *exec.Params) {
		p.Command = []string{"sh", "-c", strings.Join(faulttest.Sleeper(), " ") + " & " + strings.Join(faulttest.Sleeper(), " ")}
		p.Timeout = experiment.Duration(300 * time.Millisecond)
	})
	rec := faulttest.NewRecord(t, "exec", p, target.LocalHost())
	start := time.Now()
	err := kind.Inject(context.Background(), rec)
	if err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("Inject: got %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Inject took %s with a 300ms timeout", d)
	}
	eventually(t, "every process of the command ended", func() bool { return !anyTagged(t, rec) })
}

// TestForegroundLeftovers: a command that exits but leaves a child holding
// its stderr returns anyway, and recovery ends the child.
func TestForegroundLeftovers(t *testing.T) {
	kind := lookup(t)
	p := params(func(p *exec.Params) {
		p.Command = []string{"sh", "-c", strings.Join(faulttest.Sleeper(), " ") + " &"}
	})
	rec := faulttest.NewRecord(t, "exec", p, target.LocalHost())
	start := time.Now()
	if err := kind.Inject(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Inject took %s for a command that exits at once", d)
	}
	if !anyTagged(t, rec) {
		t.Fatal("the command's child is not running")
	}
	if err := kind.Recover(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the leftover child ended", func() bool { return !anyTagged(t, rec) })
}

// TestBackgroundStop: SIGTERM first, so a process can clean up; SIGKILL for
// one that ignores it, at once when the caller's context is done.
func TestBackgroundStop(t *testing.T) {
	kind := lookup(t)
	t.Run("SIGTERM first", func(t *testing.T) {
		dir := t.TempDir()
		marker, ready := filepath.Join(dir, "terminated"), filepath.Join(dir, "trap-set")
		p := params(func(p *exec.Params) {
			p.Command = []string{"sh", "-c", `trap "touch ` + marker + `; exit 0" TERM; touch ` + ready + `; ` + strings.Join(faulttest.Sleeper(), " ") + ` & wait`}
			p.Background = true
		})
		rec := faulttest.NewRecord(t, "exec", p, target.LocalHost())
		injectBackground(t, kind, rec)
		// SIGTERM before the shell has set its trap would kill it outright.
		eventually(t, "the shell set its TERM trap", func() bool { _, err := os.Stat(ready); return err == nil })
		if err := kind.Recover(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(marker); err != nil {
			t.Errorf("the background shell did not run its TERM trap: %v", err)
		}
		eventually(t, "the background processes ended", func() bool { return !anyTagged(t, rec) })
	})
	t.Run("SIGKILL when SIGTERM is ignored", func(t *testing.T) {
		p := params(func(p *exec.Params) {
			p.Command = []string{"sh", "-c", `trap "" TERM; ` + strings.Join(faulttest.Sleeper(), " ")}
			p.Background = true
		})
		rec := faulttest.NewRecord(t, "exec", p, target.LocalHost())
		injectBackground(t, kind, rec)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := kind.Recover(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Recover took %s with a 300ms context", d)
		}
		if anyTagged(t, rec) {
			t.Error("a process that ignores SIGTERM survived recovery")
		}
	})
}

// TestRecoverAfterFaultlineWasKilled injects a background command in a
// separate process, SIGKILLs that process as a crash would, and recovers
// here from the record it wrote, with no in-memory state.
func TestRecoverAfterFaultlineWasKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	injector := osexec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperInjector$")
	injector.Env = append(os.Environ(), helperEnv+"=1")
	out, err := injector.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := injector.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = injector.Process.Kill(); _ = injector.Wait() })
	var rec fault.Record
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "RECORD "); ok {
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if rec.ID == "" {
		t.Fatalf("the injector wrote no record (scan: %v)", sc.Err())
	}
	if err := injector.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = injector.Wait()
	if !anyTagged(t, &rec) {
		t.Fatal("the background command did not outlive the injector")
	}
	if err := lookup(t).Recover(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the orphaned background command ended", func() bool { return !anyTagged(t, &rec) })
}

// helperEnv makes TestHelperInjector act.
const helperEnv = "FAULTLINE_EXEC_TEST_INJECTOR"

// TestHelperInjector is run by TestRecoverAfterFaultlineWasKilled: it
// injects a background command, prints the record, and waits to be killed.
func TestHelperInjector(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper for TestRecoverAfterFaultlineWasKilled")
	}
	rec := faulttest.NewRecord(t, "exec", params(func(p *exec.Params) { p.Command, p.Background = faulttest.Sleeper(), true }), target.LocalHost())
	injectBackground(t, lookup(t), rec)
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("RECORD " + string(b) + "\n")
	time.Sleep(time.Minute) // until SIGKILL; the parent's context bounds it
}

func TestValidate(t *testing.T) {
	timeout := defaults().Timeout
	tests := []struct {
		name   string
		params exec.Params
		fields []string
	}{
		{"command", exec.Params{Command: []string{"true"}, Timeout: timeout}, nil},
		{"everything", exec.Params{Command: []string{"true"}, Recover: []string{"false"}, Env: map[string]string{"A": "b"}, Dir: "/", Timeout: timeout, Background: true}, nil},
		{"no command", exec.Params{Timeout: timeout}, []string{"command"}},
		{"empty program", exec.Params{Command: []string{"", "x"}, Timeout: timeout}, []string{"command"}},
		{"empty recover program", exec.Params{Command: []string{"true"}, Recover: []string{""}, Timeout: timeout}, []string{"recover"}},
		{"tag in env", exec.Params{Command: []string{"true"}, Env: map[string]string{fault.TagEnv: "x"}, Timeout: timeout}, []string{"env"}},
		{"zero timeout", exec.Params{Command: []string{"true"}}, []string{"timeout"}},
		{"all wrong", exec.Params{Recover: []string{""}, Env: map[string]string{fault.TagEnv: "x"}}, []string{"command", "recover", "env", "timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.params.Validate()
			if got := faulttest.Fields(err); !slices.Equal(got, tt.fields) {
				t.Errorf("Validate: errors %v on fields %q, want %q", err, got, tt.fields)
			}
		})
	}
}

func TestValidateDuration(t *testing.T) {
	tests := []struct {
		name     string
		params   exec.Params
		duration time.Duration
		fields   []string
	}{
		{"no duration", exec.Params{Command: []string{"true"}}, 0, nil},
		{"recover", exec.Params{Command: []string{"true"}, Recover: []string{"true"}}, time.Minute, nil},
		{"background", exec.Params{Command: []string{"true"}, Background: true}, time.Minute, nil},
		{"nothing to undo", exec.Params{Command: []string{"true"}}, time.Minute, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.params.ValidateDuration(tt.duration)
			if got := faulttest.Fields(err); !slices.Equal(got, tt.fields) {
				t.Errorf("ValidateDuration: errors %v on fields %q, want %q", err, got, tt.fields)
			}
		})
	}
}

func TestPreflight(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		set  func(p *exec.Params)
		want string // "" for no error
	}{
		{"ok", func(p *exec.Params) { p.Command, p.Recover = []string{"true"}, []string{"false"} }, ""},
		{"path", func(p *exec.Params) { p.Command = []string{"./run.sh"} }, ""},
		{"missing program", func(p *exec.Params) { p.Command = []string{"no-such-program-faultline"} }, "install it"},
		{"missing recover program", func(p *exec.Params) { p.Recover = []string{"no-such-program-faultline"} }, "install it"},
		{"missing dir", func(p *exec.Params) { p.Dir = file + ".missing" }, "working directory"},
		{"dir is a file", func(p *exec.Params) { p.Dir = file }, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := params(func(p *exec.Params) { p.Command = []string{"true"} })
			tt.set(p)
			err := lookup(t).Preflight(context.Background(), faulttest.NewRecord(t, "exec", p, target.LocalHost()))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Preflight: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Preflight: got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func lookup(t *testing.T) fault.Kind {
	t.Helper()
	k, ok := fault.Lookup("exec")
	if !ok {
		t.Fatal("kind exec is not registered")
	}
	return k
}

func defaults() *exec.Params {
	k, _ := fault.Lookup("exec")
	return k.NewParams().(*exec.Params)
}

// params returns the defaults changed by set.
func params(set func(p *exec.Params)) *exec.Params {
	p := defaults()
	set(p)
	return p
}

// injectBackground injects rec and registers its recovery.
func injectBackground(t *testing.T, kind fault.Kind, rec *fault.Record) {
	t.Helper()
	if err := kind.Inject(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kind.Recover(context.Background(), rec) })
	eventually(t, "the background command started", func() bool { return anyTagged(t, rec) })
}

// anyTagged reports whether a process tagged with the fault's id lives.
func anyTagged(t *testing.T, rec *fault.Record) bool {
	t.Helper()
	procs, err := procfs.FindByEnv(fault.TagEnv, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	return len(procs) > 0
}

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
