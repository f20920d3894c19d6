package server

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/store"
)

// The faultline binary, built once for the tests that run it as a
// process; TestMain removes it.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func faultlineBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		if binary.dir, binary.err = os.MkdirTemp("", "faultline-server-test-"); binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "faultline")
		if out, err := exec.Command("go", "build", "-o", binary.path, "../cmd/faultline").CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// serverProcess is `faultline server` running as a child process.
type serverProcess struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer starts the binary and reads the URL from its first line.
func startServer(t *testing.T, args ...string) *serverProcess {
	t.Helper()
	cmd := exec.Command(faultlineBinary(t), append([]string{"server", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "FAULTLINE_ADMIN_TOKEN="+adminSecret)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
			}
		}
		if t.Failed() {
			t.Logf("server stderr:\n%s", p.stderr.String())
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("the server printed no URL:\n%s", p.stderr.String())
		}
		p.url = line
	case <-time.After(60 * time.Second):
		t.Fatalf("no URL on stdout in 60s:\n%s", p.stderr.String())
	}
	return p
}

// stop sends sig and returns the exit error.
func (p *serverProcess) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("the server did not exit in 60s:\n%s", p.stderr.String())
		return nil
	}
}

// client is an env for a server in another process.
func client(t *testing.T, url string) *env {
	return &env{t: t, url: url, admin: adminSecret}
}

// A server killed mid-run leaves its fault in place; the next start
// recovers it from the ledger and ends the run as aborted, keeping its
// events. A server stopped with SIGTERM halts its run and recovers first.
func TestServerRestartRecoversItsRuns(t *testing.T) {
	state := t.TempDir()
	pid := sleeper(t)
	srv := startServer(t, "--state-dir", state)
	if !strings.HasPrefix(srv.url, "http://127.0.0.1:") {
		t.Fatalf("first line %q", srv.url)
	}
	e := client(t, srv.url).withTokens()
	name := e.createExperiment(document(t, "pause.yaml", "$PID", strconv.Itoa(pid), "$DURATION", "60s"))
	run := e.startRun(startRequest{Experiment: name})
	before := e.stream(run.ID, 0).until(t, "injected", 10*time.Second)
	if err := srv.stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("SIGKILL exited cleanly")
	}
	if !stopped(t, pid) {
		t.Fatal("the fault did not outlive the killed server")
	}

	srv = startServer(t, "--state-dir", state)
	e.url = srv.url
	if stopped(t, pid) {
		t.Fatal("the restarted server did not recover the fault from its ledger")
	}
	v := e.waitRun(run.ID, 5*time.Second)
	if v.Status != store.RunAborted || !strings.Contains(v.Reason, "server stopped while the run was executing") {
		t.Fatalf("interrupted run %+v", v.Run)
	}
	after := e.stream(run.ID, 0).until(t, "end", 5*time.Second)
	if len(after) < len(before)+1 || after[len(before)-1].id != before[len(before)-1].id {
		t.Fatalf("events lost across the restart: %v then %v", names(before), names(after))
	}
	e.do("GET", "/api/v1/runs/"+run.ID+"/report", e.viewer, nil, http.StatusOK, nil)

	// SIGTERM halts the run and recovers before exiting.
	run = e.startRun(startRequest{Experiment: name})
	e.stream(run.ID, 0).until(t, "injected", 10*time.Second)
	if err := srv.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, srv.stderr.String())
	}
	if stopped(t, pid) {
		t.Fatal("the fault outlived a server stopped with SIGTERM")
	}
	srv = startServer(t, "--state-dir", state)
	e.url = srv.url
	if v := e.waitRun(run.ID, time.Second); v.Status != store.RunAborted || !strings.Contains(v.Reason, "the server is stopping") {
		t.Fatalf("run halted by SIGTERM: %+v", v.Run)
	}
}

// --tls-cert and --tls-key serve HTTPS.
func TestServerServesTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	srv := startServer(t, "--state-dir", dir, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(srv.url, "https://127.0.0.1:") {
		t.Fatalf("first line %q", srv.url)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(srv.url + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health %d", resp.StatusCode)
	}
	// Plain HTTP gets a 400 or a TLS alert, never the API.
	if resp, err := http.Get(strings.Replace(srv.url, "https", "http", 1) + "/api/v1/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP was served")
		}
	}
	if err := srv.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// A key without a certificate is a usage error.
	cmd := exec.Command(faultlineBinary(t), "server", "--addr", "127.0.0.1:0", "--state-dir", dir, "--tls-key", keyFile)
	if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 2 {
		t.Fatalf("--tls-key alone: %v", err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "faultline test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
