package engine

import (
	"fmt"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/proxy"
)

// startProxies starts the experiment's own fault proxies (spec.proxies),
// which live until the end of the run, post-check included. A proxy that
// cannot start (its address is taken) fails the pre-check, naming the
// document's field, with every proxy already started closed again.
func (r *run) startProxies() (*proxy.Local, error) {
	local, err := proxy.StartLocal(r.opts.RunID, r.log)
	if err != nil {
		return nil, err
	}
	for i := range r.x.Spec.Proxies {
		p := &r.x.Spec.Proxies[i]
		protocol := p.Protocol
		if protocol == experiment.ProxyTCP {
			protocol = ""
		}
		if err := local.Add(proxy.Config{Name: p.Name, Listen: p.Listen, Upstream: p.Upstream, Protocol: protocol}); err != nil {
			if cerr := local.Close(); cerr != nil {
				r.log.Warn("closing the experiment's fault proxies", "err", cerr)
			}
			return nil, p.FieldPos("listen").Errorf("%v", err)
		}
		r.rec.event(journal.Event{Type: journal.Proxy, Message: fmt.Sprintf("fault proxy %s (%s) listening on %s, forwarding to %s; its API is at %s", p.Name, p.Protocol, p.Listen, p.Upstream, local.URL)})
	}
	return local, nil
}

// stopProxies closes the experiment's fault proxies and their connections,
// after every fault in them was recovered.
func (r *run) stopProxies() {
	if err := r.local.Close(); err != nil {
		r.log.Warn("closing the experiment's fault proxies", "err", err)
	}
	r.rec.event(journal.Event{Type: journal.Proxy, Message: "fault proxies closed"})
}
