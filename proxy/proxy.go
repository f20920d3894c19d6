// Package proxy is faultline's fault proxy: a TCP proxy server holding
// named proxies (a listen address forwarding to an upstream), each with a
// chain of toxics — latency, bandwidth, timeout, reset_peer, slow_close,
// slicer, limit_data, and for proxies speaking HTTP/1.1 http_abort,
// http_delay and http_headers — that are added, changed and removed while
// connections stay open. Server.Handler answers Toxiproxy's HTTP API, so
// Toxiproxy's client libraries drive it unchanged; faultline's extensions
// (stream "both", the HTTP toxics, a proxy's protocol) live in the same API.
//
// While a direction of a connection has no toxic, its bytes move with
// io.Copy between the two sockets, which Linux turns into splice(2). Adding
// a toxic interrupts the copy with a read deadline and the direction moves
// to the toxic pipeline (a reader goroutine and the toxics applied in
// turn); when the last toxic goes, it returns to io.Copy.
package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Protocols a proxy speaks. With http the proxy parses HTTP/1.1 requests
// and responses, so HTTP toxics can act on them.
const (
	TCP  = "tcp"
	HTTP = "http"
)

// Config is a proxy's settings as the API reads and writes them.
type Config struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	// Enabled proxies accept connections; disabling one closes its
	// connections. The API takes a missing enabled as true, as Toxiproxy.
	Enabled bool `json:"enabled"`
	// Protocol is tcp (the default, written as "") or http.
	Protocol string `json:"protocol,omitempty"`
}

// check validates a config the way Toxiproxy does, plus the protocol.
func (c *Config) check() error {
	if c.Name == "" {
		return missingField("name")
	}
	if c.Upstream == "" {
		return missingField("upstream")
	}
	switch c.Protocol {
	case "", TCP:
		c.Protocol = ""
	case HTTP:
	default:
		return badInput("protocol %q: want tcp or http", c.Protocol)
	}
	return nil
}

// differs reports whether other needs the proxy restarted: another listen
// address (compared resolved, as Toxiproxy does), upstream or protocol.
func (c Config) differs(other Config) (bool, error) {
	addr, err := net.ResolveTCPAddr("tcp", other.Listen)
	if err != nil {
		return false, badInput("listen address %q: %v", other.Listen, err)
	}
	return c.Listen != addr.String() || c.Upstream != other.Upstream || c.Protocol != other.Protocol, nil
}

// dialTimeout bounds connecting to the upstream for each client.
const dialTimeout = 5 * time.Second

// proxy is one named proxy: a listener while enabled, its connections and
// its toxics.
type proxy struct {
	log *slog.Logger

	mu     sync.Mutex // guards cfg, ln, cancel and links
	cfg    Config
	ln     net.Listener
	cancel context.CancelFunc // stops dials of the running listener
	accept chan struct{}      // closed when the accept loop has returned
	links  map[*link]struct{}
	conns  sync.WaitGroup // live links

	toxMu sync.Mutex // serialises changes to chain
	chain atomic.Pointer[chain]
}

func newProxy(log *slog.Logger, cfg Config) *proxy {
	p := &proxy{log: log.With("proxy", cfg.Name), cfg: cfg, links: map[*link]struct{}{}}
	p.cfg.Enabled = false
	p.chain.Store(newChain(nil))
	return p
}

func (p *proxy) config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

// start listens and accepts connections; starting a started proxy does
// nothing.
func (p *proxy) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.Enabled {
		return nil
	}
	ln, err := net.Listen("tcp", p.cfg.Listen)
	if err != nil {
		return err // Toxiproxy answers 500 with the listen error
	}
	p.cfg.Listen = ln.Addr().String()
	p.cfg.Enabled = true
	ctx, cancel := context.WithCancel(context.Background())
	p.ln, p.cancel, p.accept = ln, cancel, make(chan struct{})
	go p.acceptLoop(ctx, ln, p.accept)
	p.log.Info("proxy started", "listen", p.cfg.Listen, "upstream", p.cfg.Upstream)
	return nil
}

// stop closes the listener and every connection, and waits for them to
// end; stopping a stopped proxy does nothing.
func (p *proxy) stop() {
	p.mu.Lock()
	if !p.cfg.Enabled {
		p.mu.Unlock()
		return
	}
	p.cfg.Enabled = false
	ln, cancel, accepted := p.ln, p.cancel, p.accept
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()

	cancel()
	_ = ln.Close()
	<-accepted
	for _, l := range links {
		l.close()
	}
	p.conns.Wait()
	p.log.Info("proxy stopped")
}

func (p *proxy) acceptLoop(ctx context.Context, ln net.Listener, done chan<- struct{}) {
	defer close(done)
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http's server does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.log.Warn("accept failed", "err", err, "retry in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		p.conns.Add(1)
		go p.serve(ctx, c.(*net.TCPConn))
	}
}

// serve connects a client to the upstream and runs the link until both
// are done.
func (p *proxy) serve(ctx context.Context, client *net.TCPConn) {
	defer p.conns.Done()
	cfg := p.config()
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", cfg.Upstream)
	if err != nil {
		p.log.Warn("cannot connect to the upstream", "client", client.RemoteAddr().String(), "upstream", cfg.Upstream, "err", err)
		_ = client.Close()
		return
	}
	l := newLink(p, client, c.(*net.TCPConn), cfg.Protocol == HTTP)
	p.mu.Lock()
	if ctx.Err() != nil { // stopped while dialing
		p.mu.Unlock()
		l.close()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	l.run()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// setChain installs next as the proxy's toxics and tells every connection.
// The caller holds toxMu.
func (p *proxy) setChain(next *chain) {
	old := p.chain.Swap(next)
	close(old.changed)
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.poke()
	}
}

// addToxic adds t at the end of the chain.
func (p *proxy) addToxic(t *toxic) error {
	p.toxMu.Lock()
	defer p.toxMu.Unlock()
	cur := p.chain.Load()
	if cur.find(t.name) >= 0 {
		return errToxicAlreadyExists
	}
	if isHTTP(t) && p.config().Protocol != HTTP {
		return badInput("toxic type %s acts on HTTP requests: the proxy must have protocol http (set \"protocol\": \"http\" on it)", t.typ)
	}
	toxics := make([]*toxic, len(cur.toxics), len(cur.toxics)+1)
	copy(toxics, cur.toxics)
	p.setChain(newChain(append(toxics, t)))
	return nil
}

// updateToxic replaces the toxic called name by what update makes of it.
func (p *proxy) updateToxic(name string, update func(*toxic) (*toxic, error)) (*toxic, error) {
	p.toxMu.Lock()
	defer p.toxMu.Unlock()
	cur := p.chain.Load()
	i := cur.find(name)
	if i < 0 {
		return nil, errToxicNotFound
	}
	t, err := update(cur.toxics[i])
	if err != nil {
		return nil, err
	}
	toxics := append([]*toxic(nil), cur.toxics...)
	toxics[i] = t
	p.setChain(newChain(toxics))
	return t, nil
}

// removeToxic removes the toxic called name.
func (p *proxy) removeToxic(name string) error {
	p.toxMu.Lock()
	defer p.toxMu.Unlock()
	cur := p.chain.Load()
	i := cur.find(name)
	if i < 0 {
		return errToxicNotFound
	}
	toxics := append([]*toxic(nil), cur.toxics[:i]...)
	p.setChain(newChain(append(toxics, cur.toxics[i+1:]...)))
	return nil
}

// resetToxics removes every toxic.
func (p *proxy) resetToxics() {
	p.toxMu.Lock()
	defer p.toxMu.Unlock()
	if len(p.chain.Load().toxics) > 0 {
		p.setChain(newChain(nil))
	}
}

// View is a proxy as the API shows it: its config and its toxics.
type View struct {
	Config
	Toxics []Toxic `json:"toxics"`
}

func (p *proxy) view() View {
	return View{Config: p.config(), Toxics: p.chain.Load().views()}
}
