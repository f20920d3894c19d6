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
	API   string `yaml:"api" json:"api" doc:"URL of the proxy API"`
	Proxy string `yaml:"proxy" json:"proxy" required:"true" doc:"name of the proxy, as the proxy API knows it"`
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
		Defaults:   func() DownParams { return DownParams{API: DefaultAPI} },
		Preflight:  preflightDown,
		Inject:     injectDown,
		Recover:    recoverDown,
	})
}

// Validate implements experiment.Validator.
func (p *DownParams) Validate() error { return errors.Join(validateTarget(p.API, p.Proxy)...) }

func preflightDown(ctx context.Context, p *DownParams, _ *fault.Record) error {
	info, err := preflight(ctx, p.API, p.Proxy, false)
	if err != nil {
		return err
	}
	if !info.Enabled {
		return fmt.Errorf("proxy %q at %s is already disabled: enable it first, or leave out this fault", p.Proxy, p.API)
	}
	return nil
}

func injectDown(ctx context.Context, p *DownParams, rec *fault.Record) error {
	c := newClient(p.API)
	info, err := c.proxy(ctx, p.Proxy)
	if err != nil {
		return err
	}
	if err := rec.SetState(downState{WasEnabled: info.Enabled}); err != nil {
		return err
	}
	if !info.Enabled {
		fault.Notef(ctx, "proxy %s at %s was already disabled: leaving it so", p.Proxy, p.API)
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
	c := newClient(p.API)
	if !st.WasEnabled {
		// Nothing to undo; the proxy must still be there to say so.
		_, err := c.proxy(ctx, p.Proxy)
		return err
	}
	return setEnabled(ctx, c, p.Proxy, true)
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
