package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/faultline-dev/faultline/fault"
)

// DownParams are the parameters of proxy.down.
type DownParams struct {
	At `yaml:",inline"`
}

// downState is what recovery of proxy.down needs.
type downState struct {
	// WasEnabled is whether the proxy was enabled when the fault was
	// injected: recovery enables only a proxy the fault disabled.
	WasEnabled bool `json:"wasEnabled"`
}

func init() {
	fault.Register(fault.Def[DownParams]{
		Name:       "proxy.down",
		Summary:    "Take a fault proxy down: it refuses new connections and closes those open; enabled again at recovery",
		Reversible: true,
		Needs:      needs,
		Preflight:  preflightDown,
		Inject:     injectDown,
		Recover:    recoverDown,
	})
}

// Validate implements experiment.Validator.
func (p *DownParams) Validate() error { return errors.Join(p.At.validate()...) }

func preflightDown(ctx context.Context, p *DownParams, _ *fault.Record) error {
	api, err := p.api(ctx)
	if err != nil {
		return err
	}
	info, err := preflight(ctx, api, p.Proxy, false)
	if err != nil {
		return err
	}
	if !info.Enabled {
		return fmt.Errorf("proxy %q at %s is already disabled: enable it first, or leave out this fault", p.Proxy, api)
	}
	return nil
}

func injectDown(ctx context.Context, p *DownParams, rec *fault.Record) error {
	api, err := p.api(ctx)
	if err != nil {
		return err
	}
	c := newClient(api)
	info, err := c.proxy(ctx, p.Proxy)
	if err != nil {
		return err
	}
	if err := rec.SetState(downState{WasEnabled: info.Enabled}); err != nil {
		return err
	}
	if !info.Enabled {
		fault.Notef(ctx, "proxy %s at %s was already disabled: leaving it so", p.Proxy, api)
		return nil
	}
	return setEnabled(ctx, c, p.Proxy, false)
}

// recoverDown enables the proxy again, unless the fault found it disabled.
// A record without state (faultline stopped during Inject) comes from a
// fault whose Preflight saw the proxy enabled, so recovery enables it.
func recoverDown(ctx context.Context, p *DownParams, rec *fault.Record) error {
	st := downState{WasEnabled: true}
	if err := rec.GetState(&st); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recoverTimeout)
	defer cancel()
	return p.recoverVia(ctx, rec, func(api string) error {
		c := newClient(api)
		if !st.WasEnabled {
			// Nothing to undo; the proxy must still be there to say so.
			_, err := c.proxy(ctx, p.Proxy)
			return err
		}
		return setEnabled(ctx, c, p.Proxy, true)
	})
}

func setEnabled(ctx context.Context, c *client, name string, enabled bool) error {
	err := c.do(ctx, http.MethodPost, proxyPath(name), map[string]bool{"enabled": enabled}, nil)
	if isStatus(err, http.StatusNotFound) {
		return c.notFound(ctx, name)
	}
	if err != nil {
		verb := "disable"
		if enabled {
			verb = "enable"
		}
		return fmt.Errorf("%s proxy %s: %w", verb, name, err)
	}
	return nil
}
