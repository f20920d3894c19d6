package telemetry_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/telemetry"
)

func TestMetricsFollowTheRun(t *testing.T) {
	m := telemetry.New("exp")
	addr, stop, err := m.Serve("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	v := 0.25
	series := &journal.Series{Check: "front", Kind: "hypothesis", Measure: "latency"}
	for _, e := range []journal.Event{
		{Type: journal.PhaseStarted, Phase: "method"},
		{Type: journal.Injected, Fault: "process.pause"},
		{Type: journal.Injected, Fault: "process.pause"},
		{Type: journal.Injected, Fault: "stress.cpu"},
		{Type: journal.Recovered, Fault: "process.pause"},
		{Type: journal.RecoverFailed, Fault: "stress.cpu"},
	} {
		m.Event(e)
	}
	m.Sample(series, journal.Sample{Phase: "during", OK: false, Value: &v})
	m.Sample(series, journal.Sample{Phase: "during", OK: true, Value: &v})
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`faultline_run_phase{experiment="exp",phase="method"} 1`,
		`faultline_faults_active{experiment="exp",kind="process.pause"} 1`,
		`faultline_faults_active{experiment="exp",kind="stress.cpu"} 1`,
		`faultline_faults_injected_total{experiment="exp",kind="process.pause"} 2`,
		`faultline_faults_recover_failed_total{experiment="exp",kind="stress.cpu"} 1`,
		`faultline_check_samples_total{check="front",experiment="exp",kind="hypothesis",phase="during",result="fail"} 1`,
		`faultline_check_ok{check="front",experiment="exp",kind="hypothesis"} 1`,
		`faultline_check_value{check="front",experiment="exp",kind="hypothesis",measure="latency"} 0.25`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	m.Event(journal.Event{Type: journal.Verdict, Message: "deviated: check failed"})
	resp, _ = http.Get("http://" + addr + "/metrics")
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `faultline_run_verdict{experiment="exp",status="deviated"} 1`) || strings.Contains(string(b), `phase="method"} 1`) {
		t.Errorf("after the verdict:\n%s", b)
	}
}
