package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
)

// needs is what every proxy.* kind requires.
var needs = []string{"a proxy of spec.proxies, or a fault proxy API at api: `faultline proxy`, or Toxiproxy for the TCP kinds"}

// toxic is the toxic a fault adds, as the API takes it.
type toxic struct {
	Name       string  `json:"name"`
	Type       string  `json:"type"`
	Stream     string  `json:"stream,omitempty"`
	Toxicity   float64 `json:"toxicity"`
	Attributes any     `json:"attributes"`
}

// validateDirection checks direction and toxicity, which the TCP kinds have.
func validateDirection(direction string, toxicity experiment.Percent) []error {
	var errs []error
	switch direction {
	case "upstream", "downstream", "both":
	default:
		errs = append(errs, experiment.FieldErrorf("direction", "%q: want upstream (client to server), downstream (server to client) or both", direction))
	}
	if toxicity <= 0 {
		errs = append(errs, experiment.FieldErrorf("toxicity", "0%% affects no connection: want more than 0%%, up to 100%%"))
	}
	return errs
}

// wholeMillis refuses a duration the API, which counts whole
// milliseconds, would round.
func wholeMillis(field string, d experiment.Duration) error {
	if d.D()%time.Millisecond != 0 {
		return experiment.FieldErrorf(field, "%s: the proxy counts in whole milliseconds", d)
	}
	return nil
}

// ms is d in the API's milliseconds.
func ms(d experiment.Duration) int64 { return int64(d.D() / time.Millisecond) }

// preflight checks the API answers and has the proxy, in http protocol if
// the kind acts on HTTP, and returns it.
func preflight(ctx context.Context, api, name string, needHTTP bool) (*proxyInfo, error) {
	p, err := newClient(api).proxy(ctx, name)
	if errors.Is(err, errNoProxy) {
		return nil, fmt.Errorf("%w: create it through the API, or in the --config file of `faultline proxy`", err)
	}
	if err != nil {
		return nil, err
	}
	if needHTTP && p.Protocol != "http" {
		return nil, fmt.Errorf("proxy %q at %s passes TCP bytes: HTTP faults need a proxy with \"protocol\": \"http\"", name, api)
	}
	return p, nil
}

// addToxic adds the fault's toxic, named after the fault's id.
func addToxic(ctx context.Context, api, proxyName string, rec *fault.Record, t toxic) error {
	c := newClient(api)
	t.Name = rec.ID
	path := proxyPath(proxyName) + "/toxics"
	err := c.do(ctx, http.MethodPost, path, t, nil)
	if isStatus(err, http.StatusConflict) {
		// A toxic with the fault's unique id is this fault's, added by an
		// earlier attempt: make sure it has these settings.
		err = c.do(ctx, http.MethodPost, path+"/"+url.PathEscape(t.Name), t, nil)
	}
	if isStatus(err, http.StatusNotFound) {
		return c.notFound(ctx, proxyName)
	}
	if err != nil {
		return fmt.Errorf("add toxic %s to proxy %s: %w", t.Name, proxyName, err)
	}
	fault.Notef(ctx, "toxic %s (%s) added to proxy %s at %s", t.Name, t.Type, proxyName, api)
	return nil
}

// recoverTimeout bounds recovery, which goes on after the caller's context
// is done.
const recoverTimeout = 30 * time.Second

// removeToxic removes the fault's toxic.
func removeToxic(ctx context.Context, api, proxyName string, rec *fault.Record) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recoverTimeout)
	defer cancel()
	c := newClient(api)
	err := c.do(ctx, http.MethodDelete, proxyPath(proxyName)+"/toxics/"+url.PathEscape(rec.ID), nil, nil)
	if !isStatus(err, http.StatusNotFound) {
		if err != nil {
			return fmt.Errorf("remove toxic %s from proxy %s: %w", rec.ID, proxyName, err)
		}
		return nil
	}
	// 404: the toxic or the proxy is missing. The toxic's name is the
	// fault's unique id and only this fault adds it, so if the proxy is
	// there the toxic was never added (faultline stopped before) or was
	// already removed: either way it acts no more. If the proxy itself is
	// missing, the daemon may have been restarted or the proxy deleted
	// and made again elsewhere: that is not known to be recovered, so say
	// so.
	if _, err := c.proxy(ctx, proxyName); err != nil {
		if errors.Is(err, errNoProxy) {
			return fmt.Errorf("cannot tell whether toxic %s is gone: %w; if the proxy was deleted (or its daemon restarted) the toxic went with it", rec.ID, err)
		}
		return fmt.Errorf("remove toxic %s from proxy %s: %w", rec.ID, proxyName, err)
	}
	return nil
}

// toxicParams are the parameters of a kind that adds one toxic.
type toxicParams interface {
	// at names the proxy.
	at() *At
	// toxic is the toxic to add (its name is set from the fault's id).
	toxic() toxic
}

// registerToxic registers a kind that adds the toxic its parameters
// describe and removes it at recovery; http kinds need an http proxy.
func registerToxic[P any, PP interface {
	*P
	toxicParams
}](name, summary string, http bool, defaults func() P) {
	fault.Register(fault.Def[P]{
		Name:       name,
		Summary:    summary,
		Reversible: true,
		Needs:      needs,
		Defaults:   defaults,
		Preflight: func(ctx context.Context, p *P, _ *fault.Record) error {
			at := PP(p).at()
			api, err := at.api(ctx)
			if err == nil {
				_, err = preflight(ctx, api, at.Proxy, http)
			}
			return err
		},
		Inject: func(ctx context.Context, p *P, rec *fault.Record) error {
			at := PP(p).at()
			api, err := at.api(ctx)
			if err != nil {
				return err
			}
			return addToxic(ctx, api, at.Proxy, rec, PP(p).toxic())
		},
		Recover: func(ctx context.Context, p *P, rec *fault.Record) error {
			at := PP(p).at()
			return at.recoverVia(ctx, rec, func(api string) error { return removeToxic(ctx, api, at.Proxy, rec) })
		},
	})
}
