package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProxyCommand runs `faultline proxy` with a config file, drives it
// through its API, and stops it with SIGTERM.
func TestProxyCommand(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	config := filepath.Join(t.TempDir(), "proxies.json")
	doc := fmt.Sprintf(`[{"name": "echo", "listen": %q, "upstream": %q}]`, listen, echo.Addr())
	if err := os.WriteFile(config, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "proxy", "--api", api, "--config", config)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	var proxies map[string]struct {
		Listen  string `json:"listen"`
		Enabled bool   `json:"enabled"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + api + "/proxies")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&proxies)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("GET /proxies: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API did not answer: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p := proxies["echo"]; p.Listen != listen || !p.Enabled {
		t.Fatalf("proxies from --config: %+v", proxies)
	}

	c, err := net.DialTimeout("tcp", listen, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("echo through the proxy: %q, %v", line, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("faultline proxy after SIGTERM: %v\n%s", waitErr, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("faultline proxy still runs 10s after SIGTERM\n%s", stderr.String())
	}
	// The open connection was closed, and nothing listens any more.
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes from a connection of a stopped proxy", n)
	}
	if c, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		c.Close()
		t.Fatal("the proxy still listens after SIGTERM")
	}
}

func TestProxyCommandBadConfig(t *testing.T) {
	config := filepath.Join(t.TempDir(), "proxies.json")
	if err := os.WriteFile(config, []byte(`[{"name": "x"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "proxy", "--api", "127.0.0.1:0", "--config", config).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "missing required field: upstream at proxy 1") {
		t.Fatalf("bad config: %v\n%s", err, out)
	}
}
