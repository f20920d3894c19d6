package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// exchanger is the HTTP/1.1 loop of a link of an http proxy. It reads the
// client's requests (after the TCP toxics of the upstream direction) and
// the upstream's responses (after those of the downstream direction) from
// the pumps' pipes, applies the HTTP toxics, and writes to the sockets.
// Exchanges are handled one at a time, so pipelined requests are answered
// in order; connections are kept alive on both sides.
type exchanger struct {
	follower
	requests, responses *io.PipeReader
	pipes               []*io.PipeReader
	writers             []*io.PipeWriter
}

// exchange is what the HTTP toxics decided for one request.
type exchange struct {
	req           *http.Request
	abort         *httpAbort // answer the request with this
	responseEdits []func(http.Header)
}

func (x *exchanger) closePipes() {
	for _, r := range x.pipes {
		_ = r.CloseWithError(net.ErrClosed)
	}
	for _, w := range x.writers {
		_ = w.CloseWithError(net.ErrClosed)
	}
}

// serve runs exchanges until either side ends, then closes the link.
// Between exchanges it watches both sides: an upstream that closes an idle
// connection (its keep-alive timeout) has the client's closed too, as a
// plain TCP proxy would, so the client does not send its next request into
// a dead connection.
func (x *exchanger) serve() {
	defer x.l.close()
	br := bufio.NewReader(x.requests)
	ubr := bufio.NewReader(x.responses)
	reqs, resps := newPeeker(br, x.l.done), newPeeker(ubr, x.l.done)
	cw := bufio.NewWriter(x.l.client)
	uw := bufio.NewWriter(x.l.upstream)
	for {
		select {
		case err := <-reqs.ready:
			if err != nil {
				return // the client is done
			}
		case <-resps.ready:
			return // the upstream hung up (or spoke) with no request pending
		case <-x.l.done:
			return
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) {
				// Not HTTP: answer as a server would, and hang up.
				_, _ = io.WriteString(cw, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request")
				_ = cw.Flush()
			}
			return
		}
		if !x.exchange(req, br, ubr, resps, cw, uw) {
			return
		}
		reqs.resume()
	}
}

// peeker waits for data (or the end) on a reader while the exchange loop
// does something else, and hands the reader back: after a value on ready
// the loop owns the reader until it calls resume.
type peeker struct {
	ready chan error // nil: data is buffered; else why there is none
	next  chan struct{}
	done  <-chan struct{}
}

func newPeeker(r *bufio.Reader, done <-chan struct{}) *peeker {
	p := &peeker{ready: make(chan error), next: make(chan struct{}), done: done}
	go func() {
		for {
			_, err := r.Peek(1)
			select {
			case p.ready <- err:
			case <-done:
				return
			}
			if err != nil {
				return
			}
			select {
			case <-p.next:
			case <-done:
				return
			}
		}
	}()
	return p
}

// resume gives the reader back to the peeker.
func (p *peeker) resume() {
	select {
	case p.next <- struct{}{}:
	case <-p.done:
	}
}

// exchange handles one request and reports whether the connection goes on.
func (x *exchanger) exchange(req *http.Request, br, ubr *bufio.Reader, resps *peeker, cw, uw *bufio.Writer) bool {
	ex, err := x.apply(req)
	if err != nil {
		return false
	}
	if ex.abort != nil {
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return false
		}
		return x.answer(ex, cw) == nil && !req.Close
	}
	if strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
		// The upstream's 100 Continue would arrive while the body is
		// being read from the client, who waits for it: answer here.
		req.Header.Del("Expect")
		if _, err := io.WriteString(cw, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil || cw.Flush() != nil {
			return false
		}
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = []string{""} // or Request.Write adds Go's
	}
	if req.Body != http.NoBody {
		req.Body = flushingBody{ReadCloser: req.Body, r: br, w: uw}
	}
	if err := req.Write(uw); err != nil || uw.Flush() != nil {
		return false
	}
	for {
		select {
		case err := <-resps.ready:
			if err != nil {
				return false // the upstream hung up: so does the proxy
			}
		case <-x.l.done:
			return false
		}
		resp, err := http.ReadResponse(ubr, req)
		if err != nil {
			return false
		}
		for _, edit := range ex.responseEdits {
			edit(resp.Header)
		}
		if resp.Body != http.NoBody {
			resp.Body = flushingBody{ReadCloser: resp.Body, r: ubr, w: cw}
		}
		if err := resp.Write(cw); err != nil || cw.Flush() != nil {
			return false
		}
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			x.relay(br, ubr)
			return false
		case resp.StatusCode < 200:
			resps.resume()
			continue // an interim response: the final one follows
		}
		untilClose := resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 && resp.Body != http.NoBody
		if resp.Close || req.Close || untilClose {
			return false
		}
		resps.resume()
		return true
	}
}

// apply runs the HTTP toxics that match req, in chain order, until one
// aborts it.
func (x *exchanger) apply(req *http.Request) (*exchange, error) {
	x.refresh()
	ex := &exchange{req: req}
	for _, t := range x.active {
		h := t.attrs.(httpToxic)
		if m := h.matcher(); !m.matches(req) || !m.draw() {
			continue
		}
		if err := h.apply(x, t, ex); err != nil {
			return nil, err
		}
		if ex.abort != nil {
			break
		}
	}
	return ex, nil
}

// answer writes the abort's response.
func (x *exchanger) answer(ex *exchange, cw *bufio.Writer) error {
	a := ex.abort
	resp := &http.Response{
		StatusCode: a.Status, ProtoMajor: 1, ProtoMinor: 1, Request: ex.req,
		Header:        http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "Content-Length": {strconv.Itoa(len(a.Body))}},
		ContentLength: int64(len(a.Body)), Body: io.NopCloser(strings.NewReader(a.Body)),
		Close: ex.req.Close,
	}
	for _, edit := range ex.responseEdits {
		edit(resp.Header)
	}
	if err := resp.Write(cw); err != nil {
		return err
	}
	return cw.Flush()
}

// relay moves the bytes of a connection that switched protocols (a
// WebSocket, say) as they come, until both directions end.
func (x *exchanger) relay(br, ubr *bufio.Reader) {
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.Copy(x.l.upstream, br)
		_ = x.l.upstream.CloseWrite()
	})
	wg.Go(func() {
		_, _ = io.Copy(x.l.client, ubr)
		_ = x.l.client.CloseWrite()
	})
	wg.Wait()
}

// flushingBody is a message body being copied into w from r: before a read
// that would wait for more input it flushes w, so what was already read is
// sent (a streamed response is not held back in the buffer).
type flushingBody struct {
	io.ReadCloser
	r *bufio.Reader
	w *bufio.Writer
}

func (b flushingBody) Read(p []byte) (int, error) {
	if b.r.Buffered() == 0 && b.w.Buffered() > 0 {
		if err := b.w.Flush(); err != nil {
			return 0, err
		}
	}
	return b.ReadCloser.Read(p)
}
