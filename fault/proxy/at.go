package proxy

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/internal/procfs"
	proxyserver "github.com/faultline-dev/faultline/proxy"
)

// At names the proxy a fault acts on: one of the experiment's own proxies
// (spec.proxies), which faultline runs in the process that runs the
// experiment, or a proxy behind the API of a running fault proxy
// (`faultline proxy`, or Toxiproxy for the TCP kinds). Every kind's
// parameters embed it.
type At struct {
	API   string `yaml:"api" json:"api,omitempty" doc:"URL of the API of a running fault proxy (default http://127.0.0.1:8474); leave it out to act on a proxy of spec.proxies"`
	Proxy string `yaml:"proxy" json:"proxy" required:"true" doc:"name of the proxy: one spec.proxies declares, or one the proxy API knows (HTTP faults need protocol http)"`
	// InProcess marks a proxy of spec.proxies, set when the document is
	// decoded: recovery then knows the proxy lived in the process that
	// injected the fault.
	InProcess bool `yaml:"-" json:"inProcess,omitempty"`
}

// at lets the kinds' shared code reach the embedded At.
func (a *At) at() *At { return a }

// validate checks the API's URL and that a proxy is named.
func (a *At) validate() []error {
	var errs []error
	if a.API != "" {
		if u, err := url.Parse(a.API); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, experiment.FieldErrorf("api", "%q is not an http:// URL of a proxy API, such as %s", a.API, DefaultAPI))
		}
	}
	if a.Proxy == "" {
		errs = append(errs, experiment.FieldErrorf("proxy", "name the proxy to act on: one of spec.proxies, or one the proxy API knows"))
	}
	return errs
}

// BindSpec implements experiment.SpecBinder for the TCP kinds: without an
// api, a proxy spec.proxies declares is the experiment's own.
func (a *At) BindSpec(spec *experiment.Spec) error { return a.bind(spec, false) }

// bind marks a proxy of spec.proxies as in-process; HTTP kinds need its
// protocol to be http.
func (a *At) bind(spec *experiment.Spec, needHTTP bool) error {
	if a.API != "" {
		return nil
	}
	px := spec.Proxy(a.Proxy)
	if px == nil {
		return nil // a proxy of the daemon at DefaultAPI
	}
	a.InProcess = true
	if needHTTP && px.Protocol != experiment.ProxyHTTP {
		return experiment.FieldErrorf("proxy", "%q passes TCP bytes: HTTP faults need a proxy with protocol: http in spec.proxies", a.Proxy)
	}
	return nil
}

// api is the URL of the API the fault goes through. The experiment's own
// proxies answer only in the process running the experiment, which puts
// them in ctx.
func (a *At) api(ctx context.Context) (string, error) {
	switch {
	case a.InProcess:
		if l := proxyserver.LocalFrom(ctx); l != nil {
			return l.URL, nil
		}
		return "", fmt.Errorf("proxy %q is one of the experiment's own (spec.proxies): only a run of the experiment starts it", a.Proxy)
	case a.API == "":
		return DefaultAPI, nil
	}
	return a.API, nil
}

// recoverVia runs undo with the URL of the API the fault went through.
// Recovery may run in another process after faultline was killed: an
// in-process proxy whose process is gone took the fault with it, which is
// noted and counts as recovered.
func (a *At) recoverVia(ctx context.Context, rec *fault.Record, undo func(api string) error) error {
	if !a.InProcess {
		api, err := a.api(ctx)
		if err != nil {
			return err
		}
		return undo(api)
	}
	if l := proxyserver.LocalFrom(ctx); l != nil && l.Run == rec.Run {
		return undo(l.URL)
	}
	o := rec.Owner
	if host, _ := os.Hostname(); o.Host != "" && o.Host != host {
		return fmt.Errorf("proxy %q ran inside faultline on host %s: recover the fault there", a.Proxy, o.Host)
	}
	if procfs.Alive(o.PID, o.StartTime) {
		return fmt.Errorf("proxy %q runs inside faultline pid %d, which is still running run %s and recovers the fault itself (SIGTERM makes it stop and recover)", a.Proxy, o.PID, rec.Run)
	}
	fault.Notef(ctx, "proxy %s ran inside faultline pid %d, which has exited: the proxy and fault %s ended with it", a.Proxy, o.PID, rec.ID)
	return nil
}
