package load

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// This file holds the connections. The workers share each endpoint's
// kept-alive connections, as net/http's Transport does, rather than each
// owning its own: a request takes an idle connection, or waits for the
// first of one handed back by another exchange and one newly dialled, and
// at most maxDials dials are under way at once. A burst of requests (the
// start of a run, a stalled server) then opens few connections: each new
// one costs the server an accept and more, and dialling one per request at
// a high rate overloaded the server enough to keep the pool growing — a
// spiral from the first second at half the server's capacity.

// maxDials bounds the dials under way at once for one endpoint.
const maxDials = 16

// pool is one endpoint's idle connections and the requests waiting for one.
type pool struct {
	g        *Generator
	endpoint int
	mu       sync.Mutex
	// idle is a stack: the connection used last is used first, so the
	// extra connections of a burst fall idle and those in use stay warm.
	idle []*conn
	// waiting are the requests waiting for a connection, first come first
	// served by connections handed back and by the outcome of dials.
	waiting []chan dialed
	dialing int
}

// dialed is a connection for a waiting request, or why none could be made.
type dialed struct {
	c   *conn
	err error
}

// get returns an idle connection, or waits for one until deadline.
func (p *pool) get(ctx context.Context, deadline time.Time) (*conn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	mine := make(chan dialed, 1)
	p.waiting = append(p.waiting, mine)
	p.dialMore()
	p.mu.Unlock()

	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case d := <-mine:
		return d.c, d.err
	case <-t.C:
	case <-ctx.Done():
	}
	if p.unwait(mine) {
		return nil, fmt.Errorf("no connection to %s in time: %w", p.g.endpoints[p.endpoint].addr, os.ErrDeadlineExceeded)
	}
	d := <-mine // served as the wait ended
	return d.c, d.err
}

// dialMore starts dials for the waiting requests, up to maxDials under way.
// p.mu is held.
func (p *pool) dialMore() {
	for p.dialing < maxDials && p.dialing < len(p.waiting) {
		p.dialing++
		p.g.dials.Go(func() {
			c, err := p.g.dial(p.g.runCtx, p.endpoint, time.Now().Add(p.g.cfg.Timeout))
			p.mu.Lock()
			p.dialing--
			if err == nil {
				p.handLocked(c)
			} else if len(p.waiting) > 0 {
				w := p.waiting[0]
				p.waiting = p.waiting[1:]
				w <- dialed{err: err}
			}
			p.dialMore()
			p.mu.Unlock()
		})
	}
}

// unwait withdraws a waiting request; false if it was served already.
func (p *pool) unwait(mine chan dialed) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range p.waiting {
		if w == mine {
			p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// put hands a connection that may carry another exchange to the first
// waiting request, or keeps it idle.
func (p *pool) put(c *conn) {
	p.mu.Lock()
	p.handLocked(c)
	p.mu.Unlock()
}

func (p *pool) handLocked(c *conn) {
	if len(p.waiting) > 0 {
		w := p.waiting[0]
		p.waiting = p.waiting[1:]
		w <- dialed{c: c} // buffered: never blocks
		return
	}
	p.idle = append(p.idle, c)
}

// closeIdle closes the idle connections.
func (p *pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		p.g.discard(c)
	}
}

// exchange sends r on a connection to its endpoint and reads the answer.
// A kept-alive connection the server closed while it was idle is replaced
// by a new one and the request sent again, once.
func (g *Generator) exchange(ctx context.Context, r *request, deadline time.Time) (int, error) {
	p := g.pools[r.endpoint]
	c, err := p.get(ctx, deadline)
	if err != nil {
		return 0, err
	}
	for retried := false; ; retried = true {
		status, keepAlive, err := c.roundTrip(r.raw, r.noBody, deadline)
		if err == nil && keepAlive {
			c.used = true
			p.put(c)
		} else {
			g.discard(c)
		}
		if err == nil {
			return status, nil
		}
		if retried || !stale(c, err) || ctx.Err() != nil {
			return 0, err
		}
		// The other idle connections may be as stale: dial afresh.
		if c, err = g.dial(ctx, r.endpoint, deadline); err != nil {
			return 0, err
		}
	}
}

// dial connects to endpoint i (and shakes hands over TLS) by deadline.
func (g *Generator) dial(ctx context.Context, i int, deadline time.Time) (*conn, error) {
	e := g.endpoints[i]
	d := net.Dialer{Deadline: deadline}
	nc, err := d.DialContext(ctx, "tcp", e.addr)
	if err != nil {
		return nil, err
	}
	if tc := g.tls[i]; tc != nil {
		tlsConn := tls.Client(nc, tc)
		hctx, cancel := context.WithDeadline(ctx, deadline)
		err := tlsConn.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", e.addr, err)
		}
		nc = tlsConn
	}
	c := &conn{nc: nc, br: bufio.NewReaderSize(nc, readBufferSize)}
	if c.sender, err = newSender(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connection to %s: %w", e.addr, err)
	}
	g.mu.Lock()
	g.conns[c] = struct{}{}
	g.mu.Unlock()
	if ctx.Err() != nil { // cancelled while dialling: interrupt missed c
		_ = nc.SetDeadline(time.Unix(1, 0))
	}
	return c, nil
}

// discard closes a connection that is done.
func (g *Generator) discard(c *conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	_ = c.nc.Close()
}

// interrupt cuts short every exchange in progress: the run was cancelled.
func (g *Generator) interrupt() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.conns {
		_ = c.nc.SetDeadline(time.Unix(1, 0)) // the exchange fails at once and discards c
	}
}
