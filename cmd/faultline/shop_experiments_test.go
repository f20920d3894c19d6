package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/promtest"
	"github.com/faultline-dev/faultline/journal"
)

// shopVerdicts is what each experiment in examples/shop/experiments
// predicts, with resilience off and on (examples/shop/README.md).
var shopVerdicts = []struct {
	experiment string
	off, on    journal.Status
}{
	{"pause-catalogue", journal.Deviated, journal.Held},
	{"kill-payment", journal.Deviated, journal.Held},
	{"latency-carts", journal.Deviated, journal.Held},
	{"blackhole-shipping", journal.Deviated, journal.Held},
	{"disk-fill-carts", journal.Held, journal.Held},
	// Last: with resilience on, CPU stress can trip the tight timeouts and
	// open breakers for a few seconds, which the next experiment's
	// pre-check would see.
	{"cpu-orders", journal.Held, journal.Held},
}

// TestShopExperiments is the GameDay: the real shop on its default ports,
// its stores on a tmpfs of their own, a real Prometheus scraping it, and
// every example experiment run with resilience off, then on, each ending
// with the verdict it predicts.
func TestShopExperiments(t *testing.T) {
	if testing.Short() {
		t.Skip("the shop GameDay takes a few minutes")
	}
	if os.Geteuid() != 0 {
		t.Skip("network faults and the tmpfs for the stores need root")
	}
	data := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=32m", "faultline-shop-test", data).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs for the stores: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", data).Run() })
	prom := promtest.Start(t, "127.0.0.1:8180", "127.0.0.1:8181", "127.0.0.1:8182", "127.0.0.1:8183", "127.0.0.1:8184", "127.0.0.1:8185")

	e := newEnv(t, nil)
	e.vars = append(e.vars, "XDG_STATE_HOME="+t.TempDir(), "SHOP_DATA="+data, "SHOP_PROMETHEUS="+prom)
	down := func() { e.faultline(t, "demo", "shop", "down") }
	t.Cleanup(down)
	for _, profile := range []string{"off", "on"} {
		if r := e.faultline(t, "demo", "shop", "up", "--resilience", profile, "--data", data); r.code != 0 {
			t.Fatalf("demo shop up --resilience %s: exit %d\n%s", profile, r.code, r.stderr)
		}
		promtest.WaitFor(t, prom, `sum(shop_orders_pending)`)
		for _, v := range shopVerdicts {
			want := v.off
			if profile == "on" {
				want = v.on
			}
			settle(t)
			t.Run(v.experiment+"/resilience-"+profile, func(t *testing.T) {
				doc, _ := filepath.Abs(filepath.Join("../../examples/shop/experiments", v.experiment+".yaml"))
				r := e.faultline(t, "run", "-q", doc)
				if r.journal == nil || r.journal.Status != want || r.code != want.ExitCode() {
					t.Fatalf("exit %d, want %d (%s)\n%s", r.code, want.ExitCode(), want, r.stderr)
				}
				if open := openFaults(t, e.ledger); len(open) != 0 {
					t.Fatalf("faults left open: %+v", open)
				}
				if st := e.faultline(t, "demo", "shop", "status"); st.code != 0 {
					t.Fatalf("the shop is not healthy after the experiment:\n%s%s", st.stdout, st.stderr)
				}
				if strings.Contains(v.experiment, "kill") && r.journal.Metrics.Impact.FaultsInjected != 1 {
					t.Errorf("impact %+v", r.journal.Metrics.Impact)
				}
			})
		}
		down()
	}
}

// settle sends the requests the experiments check until the shop answers
// them: with resilience on, the previous experiment may have left a
// breaker open, and only a call after its open period closes it again.
func settle(t *testing.T) {
	t.Helper()
	pollUntil(t, 30*time.Second, "the shop answering again", func() bool {
		home, _ := shopCall(t, "GET", "http://127.0.0.1:8180/?customer=ann", "", time.Second)
		cart, _ := shopCall(t, "POST", "http://127.0.0.1:8180/api/cart/items", `{"customer":"gameday","itemId":"sock-3","quantity":1}`, time.Second)
		if home == 200 && (cart == 200 || cart == 201) {
			return true
		}
		time.Sleep(250 * time.Millisecond)
		return false
	})
}
