package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestProxyLatencyExample runs examples/proxy as its README says: a
// proxy.latency fault on the storefront's backend under a load probe
// deviates at 250ms and holds at 20ms.
func TestProxyLatencyExample(t *testing.T) {
	for _, tc := range []struct {
		latency string
		code    int
		says    string
	}{
		{"250ms", 1, "DEVIATED"},
		{"20ms", 0, "HELD"},
	} {
		t.Run(tc.latency, func(t *testing.T) {
			e := newEnv(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			c := exec.CommandContext(ctx, "../../examples/proxy/run.sh")
			c.Env = append(os.Environ(), append(e.vars, "FAULTLINE="+bin, "LATENCY="+tc.latency, "REPORT="+e.dir+"/report.html", "JOURNAL="+e.dir+"/journal.json")...)
			out, err := c.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(string(out), tc.says) {
				t.Fatalf("exit %d, want %d with %s:\n%s", code, tc.code, tc.says, out)
			}
			if _, err := os.Stat(e.dir + "/report.html"); err != nil {
				t.Errorf("no report: %v", err)
			}
		})
	}
}
