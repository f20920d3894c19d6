package target

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/internal/procfs"
)

// FindProcesses lists the live processes matching every field of sel, in pid
// order. faultline itself and its ancestors (the shell that started it, its
// supervisor) are never matched, nor kernel threads, nor pid 1 unless it
// is asked for by pid.
func FindProcesses(ctx context.Context, sel *experiment.ProcessSelector) ([]Target, error) {
	var pids []int
	switch {
	case sel.PIDFile != "":
		pid, err := readPIDFile(sel.PIDFile)
		if err != nil {
			return nil, err
		}
		if sel.PID != 0 && sel.PID != pid {
			return nil, nil // both given: they must agree
		}
		pids = []int{pid}
	case sel.PID != 0:
		pids = []int{sel.PID}
	default:
		all, err := procfs.PIDs()
		if err != nil {
			return nil, err
		}
		pids = all
	}
	protected := protectedPIDs()
	var out []Target
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("find processes: %w", err)
		}
		if protected[pid] || (pid == 1 && sel.PID != 1) {
			continue
		}
		t, err := FromPID(pid)
		if err != nil || t.Cmdline == "" {
			continue // gone meanwhile, or a kernel thread
		}
		if st, err := procfs.ReadStat(pid); err != nil || st.State == 'Z' {
			continue
		}
		if matches(sel, t) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b Target) int { return a.PID - b.PID })
	return out, nil
}

func matches(sel *experiment.ProcessSelector, t Target) bool {
	if sel.Name != "" && sel.Name != t.Name {
		return false
	}
	if sel.Cmdline.Regexp != nil && !sel.Cmdline.MatchString(t.Cmdline) {
		return false
	}
	if sel.User != "" && sel.User != t.User {
		return false
	}
	return true
}

func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pidfile: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pidfile %s does not hold a pid: %q", path, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// protectedPIDs is faultline and its ancestors.
func protectedPIDs() map[int]bool {
	p := map[int]bool{}
	for pid := os.Getpid(); pid > 1 && !p[pid]; {
		p[pid] = true
		st, err := procfs.ReadStat(pid)
		if err != nil {
			break
		}
		pid = st.PPID
	}
	return p
}

// Pick applies a blast-radius mode to the matches: one, all, fixed:N or
// percent:N (rounded up, at least one), then caps the result at max
// (0: no cap). With a seed the pick is deterministic; the result keeps the
// matches' order.
func Pick(matches []Target, mode experiment.Mode, max int, seed *int64) []Target {
	n := len(matches)
	switch mode.Kind {
	case "one":
		n = min(1, n)
	case "fixed":
		n = min(mode.N, n)
	case "percent":
		n = min((len(matches)*mode.N+99)/100, n)
		if n == 0 && len(matches) > 0 {
			n = 1
		}
	}
	if max > 0 {
		n = min(n, max)
	}
	var r *rand.Rand
	if seed != nil {
		r = rand.New(rand.NewPCG(uint64(*seed), 0x6661756c746c696e))
	} else {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	idx := r.Perm(len(matches))[:n]
	slices.Sort(idx)
	out := make([]Target, n)
	for i, j := range idx {
		out[i] = matches[j]
	}
	return out
}

// Resolve finds the targets a step's selector names and picks among them by
// its mode. A selector that matches nothing is an error.
func Resolve(ctx context.Context, sel *experiment.Target) ([]Target, error) {
	if sel == nil {
		return []Target{LocalHost()}, nil
	}
	mode, err := experiment.ParseMode(sel.Mode)
	if err != nil {
		return nil, err
	}
	var matches []Target
	switch {
	case sel.Host != nil:
		t := LocalHost()
		t.Interface = sel.Host.Interface
		return []Target{t}, nil
	case sel.Netns != nil:
		t, err := FindNetns(sel.Netns)
		if err != nil {
			return nil, err
		}
		return []Target{t}, nil
	case sel.Process != nil:
		matches, err = FindProcesses(ctx, sel.Process)
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("no process matches %s", describe(sel.Process))
		}
	default:
		return nil, fmt.Errorf("the target has no selector")
	}
	return Pick(matches, mode, sel.MaxTargets, sel.Seed), nil
}

// FindNetns resolves a named network namespace: it must be bound under
// NetnsDir.
func FindNetns(sel *experiment.NetnsSelector) (Target, error) {
	fi, err := os.Stat(filepath.Join(NetnsDir, sel.Name))
	if err != nil {
		return Target{}, fmt.Errorf("no network namespace named %q in %s (see `ip netns list`): %w", sel.Name, NetnsDir, err)
	}
	if fi.IsDir() {
		return Target{}, fmt.Errorf("%s is a directory, not a network namespace", filepath.Join(NetnsDir, sel.Name))
	}
	h, _ := os.Hostname()
	return Target{Type: Netns, Netns: sel.Name, Interface: sel.Interface, Host: h}, nil
}

func describe(s *experiment.ProcessSelector) string {
	var parts []string
	if s.PID != 0 {
		parts = append(parts, fmt.Sprintf("pid %d", s.PID))
	}
	if s.PIDFile != "" {
		parts = append(parts, "pidfile "+s.PIDFile)
	}
	if s.Name != "" {
		parts = append(parts, fmt.Sprintf("name %q", s.Name))
	}
	if s.Cmdline.Regexp != nil {
		parts = append(parts, fmt.Sprintf("cmdline /%s/", s.Cmdline.String()))
	}
	if s.User != "" {
		parts = append(parts, "user "+s.User)
	}
	return strings.Join(parts, ", ") + " (faultline and its parent processes are never selected)"
}
