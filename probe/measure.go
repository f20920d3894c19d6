package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// This file holds what the probe kinds share: bounded capture of output and
// a short account of why a measurement could not complete.

// capture keeps the first limit bytes written to it and counts the rest, so
// a chatty command or a large body cannot exhaust memory. It never fails a
// write: the writer on the other side (a child process, a body copy) goes on.
type capture struct {
	limit int
	buf   []byte
	total int64
}

func newCapture(limit int) *capture { return &capture{limit: limit} }

func (c *capture) Write(p []byte) (int, error) {
	if room := c.limit - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	c.total += int64(len(p))
	return len(p), nil
}

// truncated reports whether more was written than kept.
func (c *capture) truncated() bool { return c.total > int64(len(c.buf)) }

// text returns at most n kept bytes as a string, never cutting a UTF-8
// character in two.
func (c *capture) text(n int) string {
	b := c.buf
	if len(b) > n {
		b = b[:n]
		for i := len(b) - 1; i >= max(0, len(b)-utf8.UTFMax); i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	return string(b)
}

// excerpt is the first line of s, cut to n characters, for Detail.
func excerpt(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i] + " …"
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

// failure says in a few words why a measurement bounded by timeout did not
// complete: the caller stopped it (parent is done), the probe's own timeout
// (ctx, derived from parent, is past its deadline), or err itself, shorn of
// the operation and address the caller already names.
func failure(parent, ctx context.Context, timeout time.Duration, err error) string {
	if parent.Err() != nil {
		return "interrupted: " + context.Cause(parent).Error()
	}
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Sprintf("timed out after %s", timeout)
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return fmt.Sprintf("cannot resolve %s: %s", dns.Name, dns.Err)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the connection was closed before the answer was complete"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
