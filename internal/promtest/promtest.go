// Package promtest starts a real Prometheus server (Debian's `prometheus`
// package) on a loopback port for tests, scraping the targets they give.
package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Binary finds the prometheus binary. Without one the test is skipped on
// a developer's machine and fails under CI (CI=true), where the test
// command installs it.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prometheus is not installed; scripts/test.sh installs Debian's prometheus package")
		}
		t.Skip("prometheus is not installed (apt-get install prometheus)")
	}
	return p
}

// Start runs Prometheus scraping targets (host:port) every 200ms and
// returns its base URL once it is ready. It is stopped at cleanup.
func Start(t testing.TB, targets ...string) string {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = fmt.Sprintf("%q", tg)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 200ms
  evaluation_interval: 200ms
scrape_configs:
  - job_name: test
    static_configs:
      - targets: [%s]
`, strings.Join(quoted, ", "))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stderr = &logTail{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	url := "http://" + addr
	waitReady(t, url)
	return url
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("prometheus at %s did not become ready", url)
}

// WaitFor polls an instant query until it returns at least one sample, so
// a test starts once the first scrapes are in.
func WaitFor(t testing.TB, url, query string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/v1/query?query="+neturl.QueryEscape(query), nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var body struct {
				Data struct {
					Result []json.RawMessage `json:"result"`
				} `json:"data"`
			}
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if len(body.Data.Result) > 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("prometheus at %s never returned samples for %s", url, query)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logTail forwards Prometheus's warnings to the test log.
type logTail struct{ t testing.TB }

func (l *logTail) Write(p []byte) (int, error) {
	l.t.Logf("prometheus: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}
