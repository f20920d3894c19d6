package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestCapture(t *testing.T) {
	c := newCapture(8)
	for _, s := range []string{"héllo", " wörld", "!"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v: a capture takes every write whole", s, n, err)
		}
	}
	if !c.truncated() {
		t.Error("not truncated after 14 bytes into 8")
	}
	cases := []struct {
		n    int
		want string
	}{
		{8, "héllo w"},   // the whole kept part
		{100, "héllo w"}, // never more than kept
		{2, "h"},         // é would be cut in two
		{3, "hé"},
	}
	for _, tc := range cases {
		if got := c.text(tc.n); got != tc.want {
			t.Errorf("text(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	small := newCapture(8)
	fmt.Fprint(small, "ok")
	if small.truncated() || small.text(8) != "ok" {
		t.Errorf("small capture: %q, truncated %v", small.text(8), small.truncated())
	}
}

func TestExcerpt(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"  ok\n", 10, "ok"},
		{"first\nsecond", 20, "first …"},
		{"ééééé", 3, "ééé…"},
		{"", 5, ""},
	}
	for _, tc := range cases {
		if got := excerpt(tc.in, tc.n); got != tc.want {
			t.Errorf("excerpt(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestFailure(t *testing.T) {
	live := context.Background()
	expired, cancel := context.WithTimeout(live, time.Nanosecond)
	defer cancel()
	<-expired.Done()
	stopped, stop := context.WithCancel(live)
	stop()

	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	cases := []struct {
		name        string
		parent, ctx context.Context
		err         error
		want        string
	}{
		{"caller stopped", stopped, stopped, context.Canceled, "interrupted: context canceled"},
		{"own timeout", live, expired, context.DeadlineExceeded, "timed out after 2s"},
		{"timeout seen by the network", live, live, &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, "timed out after 2s"},
		{"refused", live, live, &url.Error{Op: "Get", URL: "http://x/", Err: refused}, "connection refused"},
		{"reset", live, live, &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "connection reset by peer"},
		{"dns", live, live, &net.DNSError{Name: "svc.test", Err: "no such host", IsNotFound: true}, "cannot resolve svc.test: no such host"},
		{"closed early", live, live, &url.Error{Op: "Get", URL: "http://x/", Err: io.EOF}, "the connection was closed before the answer was complete"},
		{"other url error", live, live, &url.Error{Op: "Get", URL: "http://x/", Err: errors.New("malformed HTTP response")}, "malformed HTTP response"},
		{"other", live, live, errors.New("something else"), "something else"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := failure(tc.parent, tc.ctx, 2*time.Second, tc.err); got != tc.want {
				t.Errorf("failure = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStartFailure(t *testing.T) {
	if got, want := startFailure(&exec.Error{Name: "x", Err: exec.ErrNotFound}, ""), exec.ErrNotFound.Error(); got != want {
		t.Errorf("startFailure = %q, want %q", got, want)
	}
	if got, want := startFailure(os.ErrPermission, ""), os.ErrPermission.Error(); got != want {
		t.Errorf("startFailure = %q, want %q", got, want)
	}
}
