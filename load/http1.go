package load

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// This file is the HTTP/1.1 client of the hot path. Each request is
// serialised once, when the generator is made; sending it is one write on
// a kept-alive connection (on plain TCP, made from inside the wait for its
// answer: sender_unix.go), and its answer is parsed in the connection's
// read buffer and its body discarded, without allocating. net/http's client
// takes about twice as long per exchange on loopback, with some 40
// allocations (a read and a write goroutine per connection, a Request and a
// Response per exchange: BenchmarkExchange), which on a small machine is
// CPU taken from the server under test.

// userAgent is sent unless the target sets its own.
const userAgent = "faultline-load"

// readBufferSize is each connection's read buffer: status line and headers
// must fit in it, line by line.
const readBufferSize = 4 << 10

// endpoint is where requests go: a host and port, over TLS or not.
type endpoint struct {
	addr string // host:port to dial
	host string // for TLS: the server name
	tls  bool
}

// request is one target's request, serialised.
type request struct {
	raw      []byte // request line, headers and body
	noBody   bool   // HEAD: the answer has no body
	endpoint int    // index in Generator.endpoints
}

// tokenChars are the characters of an HTTP token (RFC 9110 section 5.6.2):
// a method or a header name.
const tokenChars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func isToken(s string) bool {
	return s != "" && strings.Trim(s, tokenChars) == ""
}

// parseTarget checks a target and returns its endpoint and its request
// serialised. Problems are FieldErrors named after the target's fields.
func parseTarget(t Target) (endpoint, []byte, error) {
	var errs []error
	u, err := url.Parse(t.URL)
	switch {
	case t.URL == "":
		errs = append(errs, fieldErrorf("url", "required: the address to load, such as http://127.0.0.1:8080/"))
	case !strings.Contains(t.URL, "://") || (err == nil && ((u.Scheme != "http" && u.Scheme != "https") || u.Host == "")):
		errs = append(errs, fieldErrorf("url", "%q is not an absolute http or https URL: write it as http://host:port/path", t.URL))
	case err != nil:
		errs = append(errs, fieldErrorf("url", "bad URL %q: %v", t.URL, errors.Unwrap(err)))
		errs = append(errs, fieldErrorf("url", "%q is not an absolute http or https URL: write it as http://host:port/path", t.URL))
	case u.User != nil:
		errs = append(errs, fieldErrorf("url", "credentials in the URL are not sent: set an Authorization header instead"))
	}
	method := cmp.Or(t.Method, http.MethodGet)
	switch {
	case !isToken(method):
		errs = append(errs, fieldErrorf("method", "bad method %q: want GET, POST, HEAD, …", method))
	case method != strings.ToUpper(method):
		errs = append(errs, fieldErrorf("method", "methods are case-sensitive: write %s", strings.ToUpper(method)))
	case method == http.MethodConnect:
		errs = append(errs, fieldErrorf("method", "CONNECT opens a tunnel; it cannot be sent as load"))
	}
	for _, name := range sortedKeys(t.Headers) {
		if !isToken(name) {
			errs = append(errs, fieldErrorf("headers."+name, "bad header name %q", name))
		}
		for _, v := range t.Headers[name] {
			if strings.ContainsAny(v, "\r\n\x00") {
				errs = append(errs, fieldErrorf("headers."+name, "a header value cannot hold a line break"))
			}
		}
		switch http.CanonicalHeaderKey(name) {
		case "Content-Length", "Transfer-Encoding", "Connection":
			errs = append(errs, fieldErrorf("headers."+name, "%s is set by the load generator", http.CanonicalHeaderKey(name)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return endpoint{}, nil, err
	}

	e := endpoint{host: u.Hostname(), tls: u.Scheme == "https"}
	port := u.Port()
	if port == "" {
		port = map[bool]string{false: "80", true: "443"}[e.tls]
	}
	e.addr = net.JoinHostPort(e.host, port)

	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, u.RequestURI())
	host, agent := u.Host, userAgent
	for name, vs := range t.Headers { // names in any case: headers may come from a document
		switch {
		case strings.EqualFold(name, "Host") && len(vs) > 0:
			host = vs[0]
		case strings.EqualFold(name, "User-Agent") && len(vs) > 0:
			agent = ""
		}
	}
	fmt.Fprintf(&b, "Host: %s\r\n", host)
	if agent != "" {
		fmt.Fprintf(&b, "User-Agent: %s\r\n", agent)
	}
	for _, name := range sortedKeys(t.Headers) {
		if strings.EqualFold(name, "Host") {
			continue
		}
		for _, v := range t.Headers[name] {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	if t.Body != "" || slices.Contains([]string{http.MethodPost, http.MethodPut, http.MethodPatch}, method) {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(t.Body))
	}
	b.WriteString("\r\n")
	b.WriteString(t.Body)
	return e, b.Bytes(), nil
}

// conn is a kept-alive connection and its read buffer.
type conn struct {
	nc net.Conn
	br *bufio.Reader
	// used is set once the connection has carried an exchange: a failure
	// before any byte of a later answer may only mean the server closed it
	// while it was idle.
	used bool
	// sender is set on plain TCP connections (on Unix): it writes each
	// request from inside the wait for its answer, unless the connection
	// has been idle (keptWarm).
	sender *sender
	// lastDeadline is the deadline of the exchange before: how long the
	// connection has been idle, give or take the exchange's own length.
	lastDeadline time.Time
}

// noAnswer wraps an error that came before any byte of the answer.
type noAnswer struct{ err error }

func (e noAnswer) Error() string { return e.err.Error() }
func (e noAnswer) Unwrap() error { return e.err }

// stale reports whether err means a reused connection had been closed by
// the server while idle, so the request never reached it and may be sent
// again on a new connection.
func stale(c *conn, err error) bool {
	var na noAnswer
	return c.used && errors.As(err, &na) && (classify(err) == errClosed || classify(err) == errReset)
}

// roundTrip sends raw and reads the answer, discarding its body. It
// returns the status and whether the connection may carry another
// exchange.
func (c *conn) roundTrip(raw []byte, noBody bool, deadline time.Time) (status int, keepAlive bool, err error) {
	if err := c.send(raw, deadline); err != nil {
		return 0, false, noAnswer{err}
	}
	if _, err := c.br.Peek(1); err != nil {
		return 0, false, noAnswer{err}
	}
	return readResponse(c.br, noBody)
}

// keptWarm is how long a connection may have been idle and still be
// written to by its sender. The sender waits for the answer's arrival to
// be signalled, and a connection the server closed while it was idle may
// never signal anything again (a server closing with a lingering close
// reads and drops the request, without a reset): written to the ordinary
// way, it answers the first read with its end of file at once, and the
// request is sent again on a new connection. Servers close idle
// connections after seconds, not within one.
const keptWarm = time.Second

// send sets the exchange's deadline and writes raw. On plain TCP, on a
// connection in steady use, it also waits for the answer to become
// readable.
func (c *conn) send(raw []byte, deadline time.Time) error {
	if err := c.nc.SetDeadline(deadline); err != nil {
		return err
	}
	warm := deadline.Sub(c.lastDeadline) < keptWarm // deadlines are send times plus the timeout
	c.lastDeadline = deadline
	sent := 0
	if c.sender != nil && warm {
		var err error
		if sent, err = c.sender.sendAndWait(raw); err != nil {
			return err
		}
	}
	if sent < len(raw) {
		_, err := c.nc.Write(raw[sent:])
		return err
	}
	return nil
}

// protocolError is an answer that is not HTTP/1.x as this client reads it.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "bad answer: " + e.msg }

func protocolErrorf(format string, args ...any) error {
	return &protocolError{msg: fmt.Sprintf(format, args...)}
}

// readResponse reads one answer from br, skipping informational (1xx)
// ones, and discards its body. noBody is set for HEAD requests.
func readResponse(br *bufio.Reader, noBody bool) (status int, keepAlive bool, err error) {
	for {
		line, long, err := readLine(br)
		if err != nil {
			return 0, false, err
		}
		if long {
			return 0, false, protocolErrorf("status line longer than %d bytes", readBufferSize)
		}
		status, minor, ok := parseStatusLine(line)
		if !ok {
			return 0, false, protocolErrorf("status line %q", excerpt(line))
		}
		keepAlive = minor >= 1
		length, chunked, coded := int64(-1), false, false
		for {
			line, long, err := readLine(br)
			if err != nil {
				return 0, false, err
			}
			if long {
				continue // a long cookie or the like: none of ours
			}
			if len(line) == 0 {
				break
			}
			name, value, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				return 0, false, protocolErrorf("header line %q", excerpt(line))
			}
			value = bytes.Trim(value, " \t")
			switch {
			case equalFold(name, "content-length"):
				n, ok := parseDecimal(value)
				if !ok || (length >= 0 && n != length) {
					return 0, false, protocolErrorf("Content-Length %q", excerpt(value))
				}
				length = n
			case equalFold(name, "transfer-encoding"):
				// The body is chunked when chunked is the last coding;
				// otherwise it runs to the end of the connection.
				coded = true
				chunked = hasSuffixFold(value, "chunked")
			case equalFold(name, "connection"):
				if hasToken(value, "close") {
					keepAlive = false
				} else if hasToken(value, "keep-alive") {
					keepAlive = true
				}
			}
		}
		if status < 200 {
			if status == http.StatusSwitchingProtocols {
				return 0, false, protocolErrorf("the server switched protocols")
			}
			continue // an interim answer: the final one follows
		}
		switch {
		case noBody || status == http.StatusNoContent || status == http.StatusNotModified:
		case coded && chunked:
			err = discardChunked(br)
		case coded, length < 0:
			_, err = io.Copy(io.Discard, br)
			keepAlive = false
		default:
			_, err = br.Discard(int(length))
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return status, keepAlive && err == nil, err
	}
}

// readLine reads a line without its line ending. A line longer than the
// buffer is consumed and reported as long instead.
func readLine(br *bufio.Reader) (line []byte, long bool, err error) {
	line, err = br.ReadSlice('\n')
	for errors.Is(err, bufio.ErrBufferFull) {
		long = true
		_, err = br.ReadSlice('\n')
	}
	if err != nil {
		return nil, long, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, long, nil
}

// parseStatusLine reads "HTTP/1.x NNN reason".
func parseStatusLine(line []byte) (status, minor int, ok bool) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return 0, 0, false
	}
	if line[7] < '0' || line[7] > '9' {
		return 0, 0, false
	}
	n, ok := parseDecimal(line[9:12])
	if !ok || n < 100 || n >= maxStatus {
		return 0, 0, false
	}
	return int(n), int(line[7] - '0'), true
}

// parseDecimal parses a non-negative decimal of at most 18 digits.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseHex parses a chunk size: at most 15 hexadecimal digits.
func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

// discardChunked reads a chunked body (RFC 9112 section 7.1) and its
// trailers.
func discardChunked(br *bufio.Reader) error {
	for {
		line, long, err := readLine(br)
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";")) // chunk extensions are ignored
		n, ok := parseHex(bytes.TrimRight(size, " \t"))
		if long || !ok {
			return protocolErrorf("chunk size %q", excerpt(line))
		}
		if n == 0 {
			for { // trailers, up to the empty line
				line, long, err := readLine(br)
				if err != nil {
					return err
				}
				if len(line) == 0 && !long {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n)); err != nil {
			return err
		}
		if line, _, err := readLine(br); err != nil {
			return err
		} else if len(line) != 0 {
			return protocolErrorf("chunk of %d bytes not followed by a line end", n)
		}
	}
}

// equalFold reports whether b is s in any case; s is lower case ASCII.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// hasSuffixFold reports whether b ends with s in any case, after trailing
// spaces.
func hasSuffixFold(b []byte, s string) bool {
	b = bytes.TrimRight(b, " \t")
	return len(b) >= len(s) && equalFold(b[len(b)-len(s):], s)
}

// hasToken reports whether the comma-separated list b holds token.
func hasToken(b []byte, token string) bool {
	for len(b) > 0 {
		var item []byte
		item, b, _ = bytes.Cut(b, []byte(","))
		if equalFold(bytes.Trim(item, " \t"), token) {
			return true
		}
	}
	return false
}

// excerpt quotes at most 40 bytes of b in an error.
func excerpt(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}
