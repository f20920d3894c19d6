package shop_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/examples/shop"
	"github.com/faultline-dev/faultline/examples/shop/resilience"
)

func profile(t *testing.T, name string) resilience.Policy {
	t.Helper()
	p, err := resilience.Profile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shop.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const adjustPayment = `
resilience: on
calls:
  orders:
    payment: {timeout: 1s}
ports: {frontend: 9180}
dataDir: /srv/shop
`

func TestLoadLayers(t *testing.T) {
	on, off := profile(t, "on"), profile(t, "off")
	onSlowPayment := on
	onSlowPayment.Orders.Payment.Timeout = resilience.Duration(time.Second)
	offSlowPayment := off
	offSlowPayment.Orders.Payment.Timeout = resilience.Duration(time.Second)
	offTuned := off
	offTuned.Orders.Payment.Breaker = resilience.Breaker{Failures: 3, OpenFor: resilience.Duration(2 * time.Second)}
	offTuned.Frontend.Catalogue.Fallback = true
	for _, tc := range []struct {
		name      string
		opts      shop.Options
		wantProf  string
		wantCalls resilience.Policy
		wantPorts map[string]int // changes to DefaultPorts
		wantData  string
	}{
		{"defaults", shop.Options{}, "off", off, nil, ""},
		{"profile on", shop.Options{Profile: "on"}, "on", on, nil, ""},
		{"the file adjusts its profile field by field", shop.Options{File: writeFile(t, adjustPayment)}, "on", onSlowPayment, map[string]int{"frontend": 9180}, "/srv/shop"},
		{"the flag's profile beats the file's", shop.Options{Profile: "off", File: writeFile(t, adjustPayment)}, "off", offSlowPayment, map[string]int{"frontend": 9180}, "/srv/shop"},
		{"--set", shop.Options{Set: []string{"orders.payment.breaker.failures=3", "orders.payment.breaker.openFor=2s", "frontend.catalogue.fallback=true"}}, "off", offTuned, nil, ""},
		{"--ports and --data", shop.Options{Ports: []string{"payment=9184", "carts=9182"}, DataDir: "/tmp/x", File: writeFile(t, adjustPayment)}, "on", onSlowPayment, map[string]int{"frontend": 9180, "payment": 9184, "carts": 9182}, "/tmp/x"},
		{"an empty file", shop.Options{File: writeFile(t, "")}, "off", off, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := shop.Load(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			wantPorts := maps.Clone(shop.DefaultPorts)
			maps.Copy(wantPorts, tc.wantPorts)
			if c.Resilience != tc.wantProf || !reflect.DeepEqual(c.Calls, tc.wantCalls) || !reflect.DeepEqual(c.Ports, wantPorts) || c.DataDir != tc.wantData {
				t.Errorf("got %+v\nwant profile %s, calls %+v, ports %v, data %q", c, tc.wantProf, tc.wantCalls, wantPorts, tc.wantData)
			}
		})
	}
}

func TestTheExampleConfigLoads(t *testing.T) {
	c, err := shop.Load(shop.Options{File: "config/example.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Calls.Orders.Payment; c.Resilience != "on" || p.Retries != 2 || p.Breaker.Failures != 3 || c.Calls.Frontend.Carts.Fallback {
		t.Errorf("got %+v", c)
	}
}

// The JSON `demo shop up` writes for the services reads back the same.
func TestConfigRoundTripsThroughJSON(t *testing.T) {
	c, err := shop.Load(shop.Options{Profile: "on", Set: []string{"orders.shipping.jitter=0.2"}, DataDir: "/srv/shop"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := shop.Load(shop.Options{File: writeFile(t, string(b))})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("read back %+v\nwant %+v", back, c)
	}
}

func TestLoadRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts shop.Options
		want string
	}{
		{"an unknown edge", shop.Options{File: writeFile(t, "calls: {orders: {paymnt: {timeout: 1s}}}")}, "paymnt"},
		{"an unknown field", shop.Options{File: writeFile(t, "calls: {orders: {payment: {timout: 1s}}}")}, "timout"},
		{"a bad duration", shop.Options{Set: []string{"orders.payment.timeout=soon"}}, "want e.g. 300ms"},
		{"--set without a value", shop.Options{Set: []string{"orders.payment.timeout"}}, "CALLER.DEPENDENCY.FIELD=VALUE"},
		{"--set of an unknown field", shop.Options{Set: []string{"orders.payment.colour=red"}}, "colour"},
		{"an invalid edge", shop.Options{Set: []string{"frontend.carts.jitter=2"}}, "calls.frontend.carts: jitter"},
		{"an unknown profile", shop.Options{Profile: "maybe"}, "want off or on"},
		{"--ports without a port", shop.Options{Ports: []string{"frontend"}}, "SERVICE=PORT"},
		{"a port twice", shop.Options{Ports: []string{"frontend=8181"}}, "8181 is catalogue's port already"},
		{"an unknown service", shop.Options{Ports: []string{"search=9000"}}, "ports.search: no such service"},
		{"a missing file", shop.Options{File: "/nonexistent/shop.yaml"}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := shop.Load(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one saying %q", err, tc.want)
			}
		})
	}
}
