//go:build unix

package load

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// sender writes a request on a plain TCP connection and waits for its
// answer to become readable, in one RawConn.Read. Reading right after
// writing, as net.Conn does, nearly always finds nothing yet on loopback:
// the read fails (EAGAIN) and the goroutine waits for the socket to become
// readable before reading again, a system call in three per exchange
// wasted. Writing from inside the wait's first call keeps the order the
// poller needs: RawConn.Read clears the socket's readiness before that
// call, so the answer's arrival, however quick, is not missed.
type sender struct {
	tc   *net.TCPConn
	rc   syscall.RawConn
	wait func(fd uintptr) bool // s.step, bound once
	raw  []byte                // the request, until written
	n    int                   // bytes of it written
	err  error                 // why the write stopped short
}

// newSender returns the sender of a plain TCP connection, or nil for
// another kind (TLS).
func newSender(nc net.Conn) (*sender, error) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil, nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("raw connection: %w", err)
	}
	s := &sender{tc: tc, rc: rc}
	s.wait = s.step
	return s, nil
}

// step is RawConn.Read's callback: the first call writes the request and
// asks to wait for readability (false); the next, once the socket is
// readable, ends the wait. A write that cannot be done at once in full ends
// it too, leaving the rest to sendAndWait's caller.
func (s *sender) step(fd uintptr) bool {
	if s.raw == nil {
		return true
	}
	for {
		n, err := syscall.Write(int(fd), s.raw[s.n:])
		if err == syscall.EINTR {
			continue
		}
		if n > 0 {
			s.n += n
		}
		if err != nil || s.n < len(s.raw) {
			s.err = err
			return true
		}
		s.raw = nil
		return false
	}
}

// sendAndWait writes raw and waits until the answer can be read. It
// returns how much of raw it wrote: less than all of it (the socket's
// buffer is full) leaves the rest to be written the ordinary way. Errors
// read as net.Conn's would.
func (s *sender) sendAndWait(raw []byte) (int, error) {
	s.raw, s.n, s.err = raw, 0, nil
	err := s.rc.Read(s.wait)
	s.raw = nil
	if s.err != nil && s.err != syscall.EAGAIN {
		return s.n, &net.OpError{Op: "write", Net: "tcp", Source: s.tc.LocalAddr(), Addr: s.tc.RemoteAddr(), Err: os.NewSyscallError("write", s.err)}
	}
	if err != nil {
		return s.n, readError(err)
	}
	return s.n, nil
}

// readError names a failed wait for the answer as the read it stands for,
// as net.Conn's read would ("read tcp …: i/o timeout").
func readError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "raw-read" {
		op.Op = "read"
	}
	return err
}
