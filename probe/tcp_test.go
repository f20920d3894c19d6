package probe_test

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// fullListener returns the address of a loopback socket that listens with
// no room in its accept queue and never accepts, so a further connection
// attempt hangs (the kernel drops its SYNs) until the dialer gives up.
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the accept queue; stop at the first attempt that hangs.
	for range 8 {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		cancel()
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("the kernel kept accepting connections on a listener with backlog 0")
	return ""
}

func TestTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	refused := closedPort(t)
	full := fullListener(t)
	runFlow(t, []flowCase{
		{"connects", `{tcp: {address: "` + addr + `"}, expect: {latency: "< 500ms"}}`, true, ""},
		{"too slow for a strict bound", `{tcp: {address: "` + addr + `"}, expect: {latency: "< 1ns"}}`, false, "latency"},
		{"refused", `{tcp: {address: "` + refused + `"}, expect: {latency: "< 500ms"}}`, false, "connect " + refused + ": connection refused"},
		{"timeout", `{tcp: {address: "` + full + `", timeout: 150ms}, expect: {latency: "< 1s"}}`, false, "connect " + full + ": timed out after 150ms"},
	})
}

func TestTCPTimeoutMeasuresLatency(t *testing.T) {
	full := fullListener(t)
	got := runCheck(t, `{tcp: {address: "`+full+`", timeout: 150ms}, expect: {latency: "< 1s"}}`)
	l, ok := got.Values["latency"].(time.Duration)
	if !ok || l < 150*time.Millisecond || l > 5*time.Second {
		t.Errorf("latency %v, want about 150ms", got.Values["latency"])
	}
}

func TestTCPInvalid(t *testing.T) {
	runInvalid(t, []invalidCase{
		{"missing address", `{tcp: {timeout: 1s}}`, []string{"tcp.address", "required field is missing"}},
		{"no port", `{tcp: {address: "127.0.0.1"}}`, []string{"tcp.address", "want host:port"}},
		{"port zero", `{tcp: {address: "127.0.0.1:0"}}`, []string{"tcp.address", "bad port"}},
		{"named port", `{tcp: {address: "127.0.0.1:http"}}`, []string{"tcp.address", "bad port"}},
		{"no host", `{tcp: {address: ":8080"}}`, []string{"tcp.address", "no host"}},
		{"zero timeout", `{tcp: {address: "127.0.0.1:80", timeout: 0s}}`, []string{"tcp.timeout", "above zero"}},
	})
}
