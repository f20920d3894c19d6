package process_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/fault/faulttest"
	"github.com/faultline-dev/faultline/fault/process"
	"github.com/faultline-dev/faultline/target"
)

// helperEnv carries the argument of a helper test run in a child process.
const helperEnv = "FAULTLINE_PROCESS_TEST_HELPER"

// TestHelperPreflight is run by runAsNobody: it prints what process.pause's
// Preflight says of the pid in helperEnv.
func TestHelperPreflight(t *testing.T) {
	arg := os.Getenv(helperEnv)
	if arg == "" {
		t.Skip("helper for TestPausePreflightPermission")
	}
	pid, err := strconv.Atoi(arg)
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := target.FromPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	rec := faulttest.NewRecord(t, "process.pause", &process.PauseParams{}, tgt)
	fmt.Printf("preflight: %v\n", lookup(t, "process.pause").Preflight(context.Background(), rec))
}

// runAsNobody runs the helper test name in a copy of this test binary as the
// user nobody, with arg in helperEnv, and returns its output.
func runAsNobody(t *testing.T, name, arg string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a helper as another user")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	// A directory nobody can enter, unlike the build's and t.TempDir's.
	dir, err := os.MkdirTemp("", "faultline-process-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "helper.test")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-test.run=^"+name+"$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), helperEnv+"="+arg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper %s as nobody: %v\n%s", name, err, out)
	}
	return string(out)
}
