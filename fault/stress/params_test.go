package stress_test

import (
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/stress"
)

// fieldsOf lists the fields an error tree complains about, in order.
func fieldsOf(err error) []string {
	var fe *experiment.FieldError
	if errors.As(err, &fe) && fe == err {
		return []string{fe.Field}
	}
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, fieldsOf(e)...)
		}
	} else if err != nil {
		out = append(out, "?"+err.Error())
	}
	return out
}

func TestValidate(t *testing.T) {
	defaults := func(kind string) any {
		k, _ := fault.Lookup(kind)
		return k.NewParams()
	}
	cpu := func(f func(*stress.CPUParams)) experiment.Validator {
		p := defaults("stress.cpu").(*stress.CPUParams)
		f(p)
		return p
	}
	mem := func(f func(*stress.MemoryParams)) experiment.Validator {
		p := defaults("stress.memory").(*stress.MemoryParams)
		p.Size = 1 << 20
		f(p)
		return p
	}
	disk := func(f func(*stress.DiskParams)) experiment.Validator {
		p := defaults("stress.disk").(*stress.DiskParams)
		p.Path, p.Size = "/tmp", 1<<20
		f(p)
		return p
	}
	io := func(f func(*stress.IOParams)) experiment.Validator {
		p := defaults("stress.io").(*stress.IOParams)
		p.Path = "/tmp"
		f(p)
		return p
	}
	for _, c := range []struct {
		name string
		p    experiment.Validator
		want []string // fields in error
	}{
		{"cpu defaults", cpu(func(*stress.CPUParams) {}), nil},
		{"cpu 1 worker at 1%", cpu(func(p *stress.CPUParams) { p.Workers, p.Load = 1, 1 }), nil},
		{"cpu no workers", cpu(func(p *stress.CPUParams) { p.Workers = 0 }), []string{"workers"}},
		{"cpu too many workers", cpu(func(p *stress.CPUParams) { p.Workers = 5000 }), []string{"workers"}},
		{"cpu 0%", cpu(func(p *stress.CPUParams) { p.Load = 0 }), []string{"load"}},
		{"cpu 101%", cpu(func(p *stress.CPUParams) { p.Load = 101 }), []string{"load"}},
		{"cpu both wrong", cpu(func(p *stress.CPUParams) { p.Workers, p.Load = -1, 0 }), []string{"workers", "load"}},

		{"memory", mem(func(*stress.MemoryParams) {}), nil},
		{"memory ramp", mem(func(p *stress.MemoryParams) { p.Ramp = experiment.Duration(time.Second) }), nil},
		{"memory no size", mem(func(p *stress.MemoryParams) { p.Size = 0 }), []string{"size"}},
		{"memory negative size", mem(func(p *stress.MemoryParams) { p.Size = -1 }), []string{"size"}},

		{"disk size", disk(func(*stress.DiskParams) {}), nil},
		{"disk percent", disk(func(p *stress.DiskParams) { p.Size, p.Percent = 0, 99 }), nil},
		{"disk no path", disk(func(p *stress.DiskParams) { p.Path = "" }), []string{"path"}},
		{"disk relative path", disk(func(p *stress.DiskParams) { p.Path = "data" }), []string{"path"}},
		{"disk neither", disk(func(p *stress.DiskParams) { p.Size = 0 }), []string{"size"}},
		{"disk both", disk(func(p *stress.DiskParams) { p.Percent = 50 }), []string{"percent"}},
		{"disk 100%", disk(func(p *stress.DiskParams) { p.Size, p.Percent = 0, 100 }), []string{"percent"}},
		{"disk negative size", disk(func(p *stress.DiskParams) { p.Size = -5 }), []string{"size"}},
		{"disk all wrong", disk(func(p *stress.DiskParams) { p.Path, p.Size = "", 0 }), []string{"path", "size"}},

		{"io defaults", io(func(*stress.IOParams) {}), nil},
		{"io read", io(func(p *stress.IOParams) { p.Mode = "read" }), nil},
		{"io write", io(func(p *stress.IOParams) { p.Mode = "write" }), nil},
		{"io bad mode", io(func(p *stress.IOParams) { p.Mode = "append" }), []string{"mode"}},
		{"io no path", io(func(p *stress.IOParams) { p.Path = "" }), []string{"path"}},
		{"io relative path", io(func(p *stress.IOParams) { p.Path = "./x" }), []string{"path"}},
		{"io no workers", io(func(p *stress.IOParams) { p.Workers = 0 }), []string{"workers"}},
		{"io block 0", io(func(p *stress.IOParams) { p.BlockSize = 0 }), []string{"blockSize"}},
		{"io block huge", io(func(p *stress.IOParams) { p.BlockSize, p.FileSize = 1<<30, 2<<30 }), []string{"blockSize"}},
		{"io block above file", io(func(p *stress.IOParams) { p.BlockSize, p.FileSize = 2<<20, 1<<20 }), []string{"blockSize"}},
		{"io file 0", io(func(p *stress.IOParams) { p.FileSize = 0 }), []string{"fileSize"}},
		{"io all wrong", io(func(p *stress.IOParams) { p.Path, p.Workers, p.Mode, p.BlockSize, p.FileSize = "", 0, "x", 0, 0 }),
			[]string{"path", "workers", "mode", "blockSize", "fileSize"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.p.Validate()
			if got := fieldsOf(err); !slices.Equal(got, c.want) {
				t.Errorf("Validate() = %v: fields %q, want %q", err, got, c.want)
			}
		})
	}
}

func TestMemoryValidateDuration(t *testing.T) {
	p := &stress.MemoryParams{Size: 1 << 20, Ramp: experiment.Duration(10 * time.Second)}
	for _, c := range []struct {
		d    time.Duration
		want []string
	}{
		{0, nil},
		{10 * time.Second, nil},
		{time.Minute, nil},
		{5 * time.Second, []string{"ramp"}},
	} {
		if got := fieldsOf(p.ValidateDuration(c.d)); !slices.Equal(got, c.want) {
			t.Errorf("ramp 10s, duration %v: fields %q, want %q", c.d, got, c.want)
		}
	}
}

func TestDefaultsAndInfo(t *testing.T) {
	for kind, want := range map[string]any{
		"stress.cpu":    &stress.CPUParams{Workers: runtime.NumCPU(), Load: 100},
		"stress.memory": &stress.MemoryParams{},
		"stress.disk":   &stress.DiskParams{},
		"stress.io":     &stress.IOParams{Workers: 1, Mode: "readwrite", BlockSize: 1 << 20, FileSize: 64 << 20},
	} {
		k, ok := fault.Lookup(kind)
		if !ok {
			t.Fatalf("%s is not registered", kind)
		}
		info := k.Info()
		if !info.Reversible || len(info.Targets) != 0 || len(info.Needs) == 0 || info.Summary == "" {
			t.Errorf("%s: info %+v: want reversible, no targets, needs and a summary", kind, info)
		}
		for _, d := range info.Params {
			if d.Doc == "" {
				t.Errorf("%s: parameter %s has no doc", kind, d.Name)
			}
		}
		if got := k.NewParams(); !equalJSON(t, got, want) {
			t.Errorf("%s defaults = %+v, want %+v", kind, got, want)
		}
	}
}

// catalog types the stress kinds' parameters for the document decoder.
type catalog struct{}

func (catalog) Fault(kind string) (experiment.FaultInfo, bool) {
	k, ok := fault.Lookup(kind)
	if !ok {
		return experiment.FaultInfo{}, false
	}
	return experiment.FaultInfo{NewParams: k.NewParams, Reversible: k.Info().Reversible}, true
}
func (catalog) Probe(string) (experiment.ProbeInfo, bool) { return experiment.ProbeInfo{}, false }
func (catalog) FaultKinds() []string                      { return fault.Names() }
func (catalog) ProbeKinds() []string                      { return nil }

// TestDocument decodes the kinds' parameters as a document writes them.
func TestDocument(t *testing.T) {
	doc := func(step string) []byte {
		return []byte("apiVersion: faultline.dev/v1alpha1\nkind: Experiment\nmetadata: {name: stress}\nspec:\n  method:\n    - " + step + "\n")
	}
	x, err := experiment.Parse(doc(`{fault: stress.memory, duration: 30s, params: {size: 64MiB, ramp: 10s}}`), "ok.yaml", catalog{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := x.Spec.Method[0].Params, (&stress.MemoryParams{Size: 64 << 20, Ramp: experiment.Duration(10 * time.Second)}); !equalJSON(t, got, want) {
		t.Errorf("params %+v, want %+v", got, want)
	}
	x, err = experiment.Parse(doc(`{fault: stress.cpu, params: {workers: 1, load: 50%}}`), "ok.yaml", catalog{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := x.Spec.Method[0].Params, (&stress.CPUParams{Workers: 1, Load: 50}); !equalJSON(t, got, want) {
		t.Errorf("params %+v, want %+v", got, want)
	}

	for _, c := range []struct{ step, want string }{
		{`{fault: stress.memory, params: {ramp: 1s}}`, "spec.method[0].params.size: required field is missing"},
		{`{fault: stress.memory, duration: 5s, params: {size: 1MiB, ramp: 10s}}`, "spec.method[0].params.ramp: 10s is longer than the step's duration 5s"},
		{`{fault: stress.disk, params: {path: /tmp, size: 1MiB, percent: 50}}`, "params.percent: give either size or percent"},
		{`{fault: stress.disk, params: {path: /tmp, percent: 100%}}`, "params.percent: 100% is out of range"},
		{`{fault: stress.io, params: {path: /tmp, mode: append}}`, `params.mode: unknown mode "append"`},
		{`{fault: stress.io, params: {path: /tmp, blocksize: 1MiB}}`, "params.blocksize: unknown field"},
		{`{fault: stress.cpu, target: {process: {name: x}}}`, "takes no target"},
	} {
		_, err := experiment.Parse(doc(c.step), "bad.yaml", catalog{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.step, err, c.want)
		}
	}
}
