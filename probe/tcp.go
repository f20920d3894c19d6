package probe

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/faultline-dev/faultline/expect"
	"github.com/faultline-dev/faultline/experiment"
)

// TCPParams are the settings of the tcp probe.
type TCPParams struct {
	// Address is host:port.
	Address string              `yaml:"address" json:"address" required:"true"`
	Timeout experiment.Duration `yaml:"timeout" json:"timeout,omitempty"`
}

func init() {
	Define(Def[TCPParams]{
		Name:     "tcp",
		Summary:  "opens a TCP connection and measures how long connecting took",
		Measures: map[string]expect.Kind{"latency": expect.Duration},
		Primary:  "latency",
		Defaults: func() TCPParams { return TCPParams{Timeout: experiment.Duration(2 * time.Second)} },
		Measure:  measureTCP,
	})
}

// Validate implements experiment.Validator.
func (p *TCPParams) Validate() error {
	var errs []error
	if p.Address == "" {
		errs = append(errs, experiment.FieldErrorf("address", "required: host:port, such as 127.0.0.1:5432"))
	} else if host, port, err := net.SplitHostPort(p.Address); err != nil {
		errs = append(errs, experiment.FieldErrorf("address", "bad address %q: want host:port, such as 127.0.0.1:5432 or [::1]:5432", p.Address))
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		errs = append(errs, experiment.FieldErrorf("address", "bad port %q in %q: want a number from 1 to 65535", port, p.Address))
	} else if host == "" {
		errs = append(errs, experiment.FieldErrorf("address", "no host in %q: write 127.0.0.1%s for this machine", p.Address, p.Address))
	}
	if p.Timeout <= 0 {
		errs = append(errs, experiment.FieldErrorf("timeout", "must be above zero, such as 2s"))
	}
	return errors.Join(errs...)
}

func measureTCP(parent context.Context, p *TCPParams) Measurement {
	ctx, cancel := context.WithTimeout(parent, p.Timeout.D())
	defer cancel()
	var d net.Dialer
	start := time.Now()
	conn, err := d.DialContext(ctx, "tcp", p.Address)
	latency := time.Since(start)
	m := Measurement{Values: map[string]any{"latency": latency}}
	if err != nil {
		m.Err = "connect " + p.Address + ": " + failure(parent, ctx, p.Timeout.D(), err)
		return m
	}
	m.Detail = "connected to " + conn.RemoteAddr().String()
	_ = conn.Close() // connecting is what is measured; nothing was sent
	return m
}
