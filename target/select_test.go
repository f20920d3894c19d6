package target_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/target"
)

func procs(n int) []target.Target {
	out := make([]target.Target, n)
	for i := range out {
		out[i] = target.Target{Type: target.Process, PID: 100 + i}
	}
	return out
}

func TestPick(t *testing.T) {
	seed := int64(42)
	for _, tc := range []struct {
		mode    string
		matches int
		max     int
		want    int
	}{
		{"one", 5, 0, 1},
		{"all", 5, 0, 5},
		{"all", 5, 2, 2},
		{"fixed:3", 5, 0, 3},
		{"fixed:9", 5, 0, 5},
		{"percent:50", 5, 0, 3}, // rounded up
		{"percent:10", 5, 0, 1}, // at least one
		{"percent:100", 4, 3, 3},
		{"one", 0, 0, 0},
	} {
		t.Run(fmt.Sprintf("%s of %d max %d", tc.mode, tc.matches, tc.max), func(t *testing.T) {
			m, err := experiment.ParseMode(tc.mode)
			if err != nil {
				t.Fatal(err)
			}
			got := target.Pick(procs(tc.matches), m, tc.max, &seed)
			if len(got) != tc.want {
				t.Fatalf("picked %d, want %d", len(got), tc.want)
			}
			again := target.Pick(procs(tc.matches), m, tc.max, &seed)
			if !slices.Equal(got, again) {
				t.Errorf("the same seed picked %v then %v", got, again)
			}
			if !slices.IsSortedFunc(got, func(a, b target.Target) int { return a.PID - b.PID }) {
				t.Errorf("pick %v is not in match order", got)
			}
		})
	}
}

func TestPickWithoutSeedVaries(t *testing.T) {
	m, _ := experiment.ParseMode("one")
	seen := map[int]bool{}
	for i := 0; i < 200 && len(seen) < 2; i++ {
		seen[target.Pick(procs(10), m, 0, nil)[0].PID] = true
	}
	if len(seen) < 2 {
		t.Fatal("200 unseeded picks of one among 10 always chose the same target")
	}
}

// sleeper starts `sleep 300 FRACTION`; the unique fraction tags it.
func sleeper(t *testing.T, frac string) *exec.Cmd {
	t.Helper()
	c := exec.Command("sleep", "300", frac)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	return c
}

func TestFindProcesses(t *testing.T) {
	frac := fmt.Sprintf("0.%09d", time.Now().UnixNano()%1e9)
	a, b := sleeper(t, frac), sleeper(t, frac)
	pidfile := filepath.Join(t.TempDir(), "b.pid")
	os.WriteFile(pidfile, []byte(strconv.Itoa(b.Process.Pid)+"\n"), 0o644)
	me, _ := user.Current()
	re := func(s string) experiment.Regexp { return experiment.Regexp{Regexp: regexp.MustCompile(s)} }
	for _, tc := range []struct {
		name string
		sel  experiment.ProcessSelector
		want []int
	}{
		{"cmdline", experiment.ProcessSelector{Cmdline: re(regexp.QuoteMeta(frac))}, []int{a.Process.Pid, b.Process.Pid}},
		{"cmdline and name", experiment.ProcessSelector{Cmdline: re(regexp.QuoteMeta(frac)), Name: "sleep"}, []int{a.Process.Pid, b.Process.Pid}},
		{"wrong name", experiment.ProcessSelector{Cmdline: re(regexp.QuoteMeta(frac)), Name: "bash"}, nil},
		{"user", experiment.ProcessSelector{Cmdline: re(regexp.QuoteMeta(frac)), User: me.Username}, []int{a.Process.Pid, b.Process.Pid}},
		{"other user", experiment.ProcessSelector{Cmdline: re(regexp.QuoteMeta(frac)), User: "nobody-at-all"}, nil},
		{"pid", experiment.ProcessSelector{PID: a.Process.Pid}, []int{a.Process.Pid}},
		{"pidfile", experiment.ProcessSelector{PIDFile: pidfile}, []int{b.Process.Pid}},
		{"pidfile and another pid", experiment.ProcessSelector{PIDFile: pidfile, PID: a.Process.Pid}, nil},
		{"faultline itself is never a target", experiment.ProcessSelector{PID: os.Getpid()}, nil},
		{"nor its parent", experiment.ProcessSelector{PID: os.Getppid()}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := target.FindProcesses(context.Background(), &tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			var pids []int
			for _, g := range got {
				pids = append(pids, g.PID)
				if g.StartTime == 0 || g.Name != "sleep" || g.Cmdline == "" {
					t.Errorf("target %+v lacks its identity", g)
				}
			}
			if !slices.Equal(pids, tc.want) {
				t.Errorf("found %v, want %v", pids, tc.want)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	sel := &experiment.Target{Process: &experiment.ProcessSelector{Cmdline: experiment.Regexp{Regexp: regexp.MustCompile(`no-such-process-\d{12}`)}}, Mode: "all"}
	if _, err := target.Resolve(context.Background(), sel); err == nil {
		t.Error("a selector matching nothing resolved")
	}
	missing := &experiment.Target{Process: &experiment.ProcessSelector{PIDFile: "/nonexistent/x.pid"}, Mode: "one"}
	if _, err := target.Resolve(context.Background(), missing); err == nil {
		t.Error("a missing pidfile resolved")
	}
}

func TestAliveTellsAReusedPIDApart(t *testing.T) {
	c := sleeper(t, "0.5")
	tg, err := target.FromPID(c.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !tg.Alive() {
		t.Fatal("a running process is not alive")
	}
	impostor := tg
	impostor.StartTime++
	if impostor.Alive() {
		t.Error("a pid with another start time counts as the same process")
	}
	c.Process.Kill()
	c.Wait()
	if tg.Alive() {
		t.Error("a reaped process is alive")
	}
}

// TestResolveNetworkSelectors resolves host and netns selectors: one
// target each, carrying the interface given; a netns must be bound.
func TestResolveNetworkSelectors(t *testing.T) {
	dir := t.TempDir()
	old := target.NetnsDir
	target.NetnsDir = dir
	t.Cleanup(func() { target.NetnsDir = old })
	if err := os.WriteFile(filepath.Join(dir, "blue"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		sel     experiment.Target
		want    target.Target
		wantErr string
	}{
		{"host default interface", experiment.Target{Host: &experiment.HostSelector{}},
			target.Target{Type: target.Host}, ""},
		{"host eth1", experiment.Target{Host: &experiment.HostSelector{Interface: "eth1"}},
			target.Target{Type: target.Host, Interface: "eth1"}, ""},
		{"netns", experiment.Target{Netns: &experiment.NetnsSelector{Name: "blue", Interface: "veth0"}},
			target.Target{Type: target.Netns, Netns: "blue", Interface: "veth0"}, ""},
		{"netns missing", experiment.Target{Netns: &experiment.NetnsSelector{Name: "red"}},
			target.Target{}, `no network namespace named "red"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.sel.Mode = "one"
			got, err := target.Resolve(context.Background(), &tc.sel)
			if tc.wantErr != "" {
				if err == nil || !regexp.MustCompile(regexp.QuoteMeta(tc.wantErr)).MatchString(err.Error()) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != 1 {
				t.Fatalf("Resolve: %v, %v", got, err)
			}
			got[0].Host = ""
			if got[0] != tc.want {
				t.Errorf("got %+v, want %+v", got[0], tc.want)
			}
			if !got[0].Alive() {
				t.Errorf("%s is not alive", got[0])
			}
		})
	}
}

// TestOpenNetNS opens a live process's namespace, and refuses one whose
// pid no longer names the process the target was made from.
func TestOpenNetNS(t *testing.T) {
	self, err := target.FromPID(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	f, err := self.OpenNetNS()
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	stale := self
	stale.StartTime++
	if f, err := stale.OpenNetNS(); err == nil {
		f.Close()
		t.Fatal("opened the namespace of a process that is not the target any more")
	}
	if f, err := target.LocalHost().OpenNetNS(); f != nil || err != nil {
		t.Fatalf("host: %v, %v; want nil, nil (the caller's own namespace)", f, err)
	}
}
