package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// chunk is data read from one side of a link.
type chunk struct {
	data []byte
	// at is when the data was read; latency counts from it, and a latency
	// toxic moves it on by the delay it added.
	at  time.Time
	buf *[]byte // the pooled buffer data lies in, if any
}

// tcpToxic is a toxic acting on the bytes of a direction.
type tcpToxic interface {
	attributes
	// handle passes c on to the next toxics by calling next (zero, one or
	// more times, with c or parts of it), waiting as the toxic says with
	// p.wait and looking at its current attributes with p.current(t). It
	// returns errClosed (or a write error) when the link is done.
	handle(p *pump, t *toxic, c chunk, next func(chunk) error) error
}

// eofToxic is a TCP toxic with something to do when its direction ends.
type eofToxic interface {
	eof(p *pump, t *toxic) error
}

// idleToxic is a TCP toxic that acts even without data: at the time it
// returns (zero: never) the link is closed.
type idleToxic interface {
	idleDeadline(st *toxicState) time.Time
}

// statefulToxic keeps state for each direction of each connection it acts
// on.
type statefulToxic interface {
	newState() any
}

// toxicState is what a pump keeps for one toxic acting on its direction.
type toxicState struct {
	since time.Time // when the toxic began to act here
	v     any       // from statefulToxic.newState
}

// pump moves the bytes of one direction of a link: with io.Copy while no
// toxic acts on it, through its toxics otherwise.
type pump struct {
	follower
	src        *net.TCPConn
	dst        io.Writer
	closeWrite func() error

	// fast is true while the pump copies without toxics; setChain then
	// pokes it.
	fast atomic.Bool
	// stopping tells the reader of the toxic pipeline to stop at the next
	// read deadline, so the pump can go back to io.Copy.
	stopping atomic.Bool

	states map[uint64]*toxicState // by toxic id, for the active toxics
}

func newPump(l *link, d dirs, src *net.TCPConn, dst io.Writer, closeWrite func() error) *pump {
	p := &pump{src: src, dst: dst, closeWrite: closeWrite, states: map[uint64]*toxicState{}}
	p.follower = newFollower(l, func(t *toxic) bool {
		_, ok := t.attrs.(tcpToxic)
		return ok && t.dirs&d != 0
	})
	p.onChange = p.syncStates
	return p
}

// syncStates keeps state for exactly the active toxics; a toxic's state
// starts when it begins to act here.
func (p *pump) syncStates() {
	now := time.Now()
	for id := range p.states {
		if !slices.ContainsFunc(p.active, func(t *toxic) bool { return t.id == id }) {
			delete(p.states, id)
		}
	}
	for _, t := range p.active {
		if p.states[t.id] == nil {
			st := &toxicState{since: now}
			if s, ok := t.attrs.(statefulToxic); ok {
				st.v = s.newState()
			}
			p.states[t.id] = st
		}
	}
}

// state returns t's state for this direction.
func (p *pump) state(t *toxic) *toxicState {
	p.refresh()
	if st := p.states[t.id]; st != nil {
		return st
	}
	// t was removed meanwhile: a state nobody keeps.
	st := &toxicState{since: time.Now()}
	if s, ok := t.attrs.(statefulToxic); ok {
		st.v = s.newState()
	}
	return st
}

// run moves bytes until the direction ends or the link closes.
func (p *pump) run() {
	for {
		// Clear any deadline before looking at the chain: a poke after
		// this point interrupts the copy below, and one before it came
		// after the chain the pump is about to read.
		if err := p.src.SetReadDeadline(time.Time{}); err != nil {
			p.l.close()
			return
		}
		p.fast.Store(true)
		p.refresh()
		if len(p.active) > 0 {
			p.fast.Store(false)
			if p.toxicMode() {
				return
			}
			continue
		}
		_, err := io.Copy(p.dst, p.src)
		p.fast.Store(false)
		switch {
		case err == nil:
			p.eof()
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue // poked: the chain changed
		default:
			p.l.close()
			return
		}
	}
}

// eof ends the direction: the toxics acting on the end, then a half close.
func (p *pump) eof() {
	p.refresh()
	for _, t := range p.active {
		if e, ok := t.attrs.(eofToxic); ok {
			if err := e.eof(p, t); err != nil {
				return
			}
		}
	}
	if err := p.closeWrite(); err != nil {
		p.l.close()
	}
}

const (
	// queueLen bounds the chunks read ahead of the toxics (each at most
	// bufSize): beyond, the sender is held back by TCP flow control.
	queueLen = 64
	bufSize  = 32 << 10
	// smallRead is the size under which a read is copied out of its
	// buffer, so small messages do not each hold a whole buffer.
	smallRead = 4 << 10
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// errStopped ends the reader when the pump goes back to io.Copy.
var errStopped = errors.New("reader stopped")

// toxicMode runs the toxic pipeline: a reader goroutine and this one
// applying the toxics. It reports whether the direction is done; it
// returns false when no toxic acts here any more and every chunk read was
// passed on.
func (p *pump) toxicMode() (done bool) {
	chunks := make(chan chunk, queueLen)
	var readErr error
	p.stopping.Store(false)
	go p.read(chunks, &readErr)
	stopping := false
	for {
		var expired <-chan time.Time
		if d := p.idleDeadline(); !d.IsZero() {
			p.timer.Reset(time.Until(d))
			expired = p.timer.C
		}
		select {
		case c, ok := <-chunks:
			if !ok {
				switch {
				case errors.Is(readErr, errStopped):
					return false
				case readErr == io.EOF:
					p.eof()
				default:
					p.l.close()
				}
				return true
			}
			err := p.process(c)
			if c.buf != nil {
				bufPool.Put(c.buf)
			}
			if err != nil {
				p.l.close()
				return true
			}
		case <-p.seen.changed:
		case <-expired:
			p.l.close()
			return true
		case <-p.l.done:
			return true
		}
		p.timer.Stop()
		if p.refresh(); !stopping && len(p.active) == 0 {
			// Stop the reader at its next read; the chunks it already
			// read go through first.
			stopping = true
			p.stopping.Store(true)
			_ = p.src.SetReadDeadline(aLongTimeAgo)
		}
	}
}

// idleDeadline is the earliest time an idle toxic closes the link.
func (p *pump) idleDeadline() time.Time {
	var first time.Time
	for _, t := range p.active {
		if it, ok := t.attrs.(idleToxic); ok {
			if d := it.idleDeadline(p.states[t.id]); !d.IsZero() && (first.IsZero() || d.Before(first)) {
				first = d
			}
		}
	}
	return first
}

// read reads src into chunks until the end of the stream, an error, or a
// read deadline while stopping; it stores why in *errp and closes chunks.
func (p *pump) read(chunks chan<- chunk, errp *error) {
	defer close(chunks)
	buf := bufPool.Get().(*[]byte)
	defer func() { bufPool.Put(buf) }()
	for {
		n, err := p.src.Read(*buf)
		if n > 0 {
			c := chunk{at: time.Now()}
			if n <= smallRead {
				c.data = bytes.Clone((*buf)[:n])
			} else {
				c.data, c.buf = (*buf)[:n], buf
				buf = bufPool.Get().(*[]byte)
			}
			select {
			case chunks <- c:
			case <-p.l.done:
				*errp = net.ErrClosed
				return
			}
		}
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Clear, then look: a stop after the clear sets the deadline
			// again, so it is seen at the next read.
			if err := p.src.SetReadDeadline(time.Time{}); err != nil {
				*errp = err
				return
			}
			if p.stopping.Load() {
				*errp = errStopped
				return
			}
			continue // a poke meant for io.Copy
		}
		*errp = err
		return
	}
}

// process passes a chunk through the active toxics and writes it.
func (p *pump) process(c chunk) error {
	p.refresh()
	return p.pass(p.active, c)
}

func (p *pump) pass(ts []*toxic, c chunk) error {
	if len(ts) == 0 {
		_, err := p.dst.Write(c.data)
		return err
	}
	return ts[0].attrs.(tcpToxic).handle(p, ts[0], c, func(c chunk) error { return p.pass(ts[1:], c) })
}
