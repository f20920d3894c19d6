package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// Server holds named proxies. Its methods are safe for concurrent use.
type Server struct {
	log *slog.Logger

	mu      sync.Mutex // guards proxies; held while proxies start and stop
	proxies map[string]*proxy
	closed  bool

	toxicIDs atomic.Uint64
}

// NewServer returns a server without proxies; log receives proxies
// starting and stopping, and problems reaching upstreams.
func NewServer(log *slog.Logger) *Server {
	return &Server{log: log, proxies: map[string]*proxy{}}
}

var errServerClosed = errors.New("proxy server closed")

// Close stops every proxy, closing their connections, and removes them.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, p := range s.proxies {
		p.stop()
		delete(s.proxies, name)
	}
	s.closed = true
	return nil
}

// Populate creates the proxies, as POST /populate: a proxy of the same name
// whose listen address, upstream and protocol are the same is kept as it
// is (toxics and all); one that differs is replaced. It stops at the first
// error and returns the proxies made so far.
func (s *Server) Populate(cfgs []Config) ([]View, error) {
	for i := range cfgs {
		if err := cfgs[i].check(); err != nil {
			return nil, &apiError{msg: fmt.Sprintf("%v at proxy %d", err, i+1), status: statusOf(err)}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errServerClosed
	}
	views := make([]View, 0, len(cfgs))
	for _, c := range cfgs {
		if old := s.proxies[c.Name]; old != nil {
			differs, err := old.config().differs(c)
			if err != nil {
				return views, err
			}
			if !differs {
				views = append(views, old.view())
				continue
			}
			old.stop()
		}
		p := newProxy(s.log, c)
		if c.Enabled {
			if err := p.start(); err != nil {
				return views, err
			}
		}
		s.proxies[c.Name] = p
		views = append(views, p.view())
	}
	return views, nil
}

func (s *Server) get(name string) (*proxy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.proxies[name]; p != nil {
		return p, nil
	}
	return nil, errProxyNotFound
}

// views returns every proxy by name.
func (s *Server) views() map[string]View {
	s.mu.Lock()
	ps := slices.Collect(maps.Values(s.proxies))
	s.mu.Unlock()
	out := make(map[string]View, len(ps))
	for _, p := range ps {
		v := p.view()
		out[v.Name] = v
	}
	return out
}

// create makes a proxy and starts it if it is enabled.
func (s *Server) create(c Config) (View, error) {
	if err := c.check(); err != nil {
		return View{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return View{}, errServerClosed
	}
	if s.proxies[c.Name] != nil {
		return View{}, errProxyAlreadyExists
	}
	p := newProxy(s.log, c)
	if c.Enabled {
		if err := p.start(); err != nil {
			return View{}, err
		}
	}
	s.proxies[c.Name] = p
	return p.view(), nil
}

// update changes a proxy's settings from an API body, over its own: another
// listen address, upstream or protocol restarts it (closing its
// connections), and enabled starts or stops it.
func (s *Server) update(name string, body []byte) (View, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proxies[name]
	if p == nil {
		return View{}, errProxyNotFound
	}
	cur := p.config()
	in := cur
	if err := json.Unmarshal(body, &in); err != nil {
		return View{}, badBody(err)
	}
	in.Name = cur.Name
	if err := in.check(); err != nil {
		return View{}, err
	}
	if in.Protocol != HTTP && p.chain.Load().hasHTTP() {
		return View{}, badInput("the proxy has HTTP toxics: remove them before changing its protocol to tcp")
	}
	differs, err := cur.differs(in)
	if err != nil {
		return View{}, err
	}
	if differs {
		p.stop()
		p.mu.Lock()
		p.cfg.Listen, p.cfg.Upstream, p.cfg.Protocol = in.Listen, in.Upstream, in.Protocol
		p.mu.Unlock()
	}
	if in.Enabled {
		err = p.start()
	} else {
		p.stop()
	}
	return p.view(), err
}

// remove stops a proxy and forgets it.
func (s *Server) remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proxies[name]
	if p == nil {
		return errProxyNotFound
	}
	p.stop()
	delete(s.proxies, name)
	return nil
}

// reset enables every proxy and removes every toxic.
func (s *Server) reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.proxies {
		if err := p.start(); err != nil {
			return err
		}
		p.resetToxics()
	}
	return nil
}

// addToxic adds a toxic from an API body to a proxy.
func (s *Server) addToxic(name string, body []byte) (Toxic, error) {
	p, err := s.get(name)
	if err != nil {
		return Toxic{}, err
	}
	t, err := newToxic(body)
	if err != nil {
		return Toxic{}, err
	}
	t.id = s.toxicIDs.Add(1)
	if err := p.addToxic(t); err != nil {
		return Toxic{}, err
	}
	return t.view(), nil
}

// updateToxic changes a toxic's attributes and toxicity from an API body.
func (s *Server) updateToxic(name, toxicName string, body []byte) (Toxic, error) {
	p, err := s.get(name)
	if err != nil {
		return Toxic{}, err
	}
	t, err := p.updateToxic(toxicName, func(t *toxic) (*toxic, error) { return t.updated(body) })
	if err != nil {
		return Toxic{}, err
	}
	return t.view(), nil
}

// removeToxic removes a toxic from a proxy.
func (s *Server) removeToxic(name, toxicName string) error {
	p, err := s.get(name)
	if err != nil {
		return err
	}
	return p.removeToxic(toxicName)
}

// toxic returns one toxic of a proxy.
func (s *Server) toxic(name, toxicName string) (Toxic, error) {
	p, err := s.get(name)
	if err != nil {
		return Toxic{}, err
	}
	ch := p.chain.Load()
	i := ch.find(toxicName)
	if i < 0 {
		return Toxic{}, errToxicNotFound
	}
	return ch.toxics[i].view(), nil
}
