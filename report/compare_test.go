package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/journal"
)

func compareHTML(t *testing.T, a, b *journal.Journal) string {
	t.Helper()
	var buf bytes.Buffer
	if err := CompareHTML(&buf, a, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func compareMarkdown(t *testing.T, a, b *journal.Journal) string {
	t.Helper()
	var buf bytes.Buffer
	if err := CompareMarkdown(&buf, a, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestCompareGolden(t *testing.T) {
	a, b := load(t, "resilience-off"), load(t, "resilience-on")
	t.Run("compare.md", func(t *testing.T) { golden(t, "compare.md", compareMarkdown(t, a, b)) })
	t.Run("compare.html", func(t *testing.T) { golden(t, "compare.html", compareHTML(t, a, b)) })
}

func TestCompareShowsWhatChanged(t *testing.T) {
	a, b := load(t, "resilience-off"), load(t, "resilience-on")
	h, m := compareHTML(t, a, b), compareMarkdown(t, a, b)
	for _, want := range []string{
		`<div class="verdict deviated" id="verdict-A"><span class="side">A</span><span class="status">DEVIATED</span> carts-latency`,
		`<div class="verdict held" id="verdict-B"><span class="side">B</span><span class="status">HELD</span> carts-latency`,
		`<li>The verdict changed from DEVIATED to HELD.</li>`,
		`<td class="change better">−1.997 s, better</td>`,
		`<td class="change better">−10.717 points, better</td>`,
	} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, want := range []string{
		"- **A** 🔴 **DEVIATED** — carts-latency",
		"- **B** 🟢 **HELD** — carts-latency",
		"- Time to recover: 2.532 s in A, 0.535 s in B (−1.997 s, better).",
		"- Failed samples: 40.909% in A, 0% in B (−40.909 points, better).",
		"- Failed requests: 10.762% in A, 0.044% in B (−10.717 points, better).",
		"| Time to detect | 0.496 s | — | 🟢 nothing failed in B, better |",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	// Swapped, every change turns the other way.
	if m := compareMarkdown(t, b, a); !strings.Contains(m, "| Time to recover | 0.535 s | 2.532 s | 🔴 +1.997 s, worse |") {
		t.Errorf("B before A does not read as worse:\n%s", m)
	}
}

func TestComparedChartsShareScales(t *testing.T) {
	a, b := load(t, "resilience-off"), load(t, "resilience-on")
	cs := parseCharts(t, compareHTML(t, a, b))
	if len(cs) != 2*len(a.Checks) {
		t.Fatalf("%d charts, want A's and B's of %d checks", len(cs), len(a.Checks))
	}
	labels := func(c svgChart) string {
		var ls []string
		for _, x := range c.Texts {
			if x.Class == "label" {
				ls = append(ls, x.Text)
			}
		}
		return strings.Join(ls, "|")
	}
	for i, s := range a.Checks {
		ca, cb := cs[2*i], cs[2*i+1]
		if labels(ca) != labels(cb) {
			t.Errorf("%s: A's axes %q, B's %q: not on the same scales", s.Check, labels(ca), labels(cb))
		}
		// B ran 18 s, A 22 s: B's last sample (17.5 s) sits where A's
		// sample at 17.5 s does.
		last := cb.Circles[len(cb.Circles)-1]
		var same svgShape
		for k, x := range s.Samples {
			if x.At == b.Checks[i].Samples[len(b.Checks[i].Samples)-1].At {
				same = ca.Circles[k]
			}
		}
		if last.CX == "" || last.CX != same.CX {
			t.Errorf("%s: B's last sample at x=%s, A's at the same time at x=%s", s.Check, last.CX, same.CX)
		}
		if ca.count(ca.Rects, "fault") != 1 || cb.count(cb.Rects, "fault") != 1 {
			t.Errorf("%s: fault windows not shaded in both charts", s.Check)
		}
	}
}

func TestCompareRefusesDifferentExperiments(t *testing.T) {
	a, other := load(t, "resilience-off"), load(t, "deviated")
	if err := SameExperiment(a, load(t, "resilience-on")); err != nil {
		t.Errorf("two runs of carts-latency: %v", err)
	}
	err := SameExperiment(a, other)
	if !errors.Is(err, ErrDifferentExperiments) || !strings.Contains(err.Error(), `"carts-latency"`) || !strings.Contains(err.Error(), `"checkout-under-pause"`) {
		t.Errorf("SameExperiment = %v, want ErrDifferentExperiments naming both", err)
	}
	// Rendered all the same (--force), the comparison says so first.
	for _, out := range []string{compareHTML(t, a, other), compareMarkdown(t, a, other)} {
		if !strings.Contains(out, "A and B are runs of different experiments: A ran “carts-latency”, B ran “checkout-under-pause”.") {
			t.Errorf("the comparison does not warn that the experiments differ:\n%.600s", out)
		}
	}
	// Checks that only one side has are shown as missing on the other.
	if h := compareHTML(t, a, other); strings.Count(h, `<div class="missing">`) != 4 {
		t.Errorf("%d missing-check placeholders, want 4 (2 checks in each run, none shared)", strings.Count(h, `<div class="missing">`))
	}
}

func TestCompareEscapesEverything(t *testing.T) {
	h := compareHTML(t, hostile(), hostile())
	if strings.Contains(strings.ToLower(h), "<script") {
		t.Error("a <script> from a journal reached the HTML")
	}
	if n := len(parseCharts(t, h)); n != 2 {
		t.Errorf("%d charts, want 2", n)
	}
	assertSafeMarkdown(t, compareMarkdown(t, hostile(), hostile()))
}

func TestCompareRows(t *testing.T) {
	tests := []struct {
		name        string
		row         compareRow
		change      string
		trend       string
		summaryPart string
	}{
		{"verdict better", verdictRow(journal.Deviated, journal.Held), "better", "better", "The verdict changed from DEVIATED to HELD."},
		{"verdict worse", verdictRow(journal.Held, journal.Aborted), "worse", "worse", "The verdict changed from HELD to ABORTED."},
		{"verdict same", verdictRow(journal.Held, journal.Held), "same", "", "The verdict did not change: HELD in both runs."},
		{"verdict unranked", verdictRow(journal.Invalid, journal.Held), "changed", "", "from INVALID to HELD"},
		{"faster detection is no trend", detectRow(f(2), f(1)), "−1.000 s", "", "(−1.000 s)"},
		{"nothing to detect in B", detectRow(f(2), nil), "nothing failed in B", "better", ""},
		{"something to detect in B", detectRow(nil, f(2)), "nothing failed in A", "worse", ""},
		{"slower recovery", durationRow("Time to recover", f(1), f(1.5), seconds), "+0.500 s", "worse", "1.000 s in A, 1.500 s in B (+0.500 s, worse)."},
		{"recovery unknown in one", durationRow("Time to recover", f(1), nil, seconds), none, "", "1.000 s in A, — in B."},
		{"same recovery", durationRow("Time to recover", f(1), f(1.0001), seconds), "same", "", ""},
		{"stable only in B", stableRow(stability{Why: notReached}, stability{After: f(3)}), "stable in B only", "better", ""},
		{"stable only in A", stableRow(stability{After: f(3)}, stability{Why: notReached}), "stable in A only", "worse", ""},
		{"share up", shareRow("Failed samples", "", "", func() (float64, bool) { return 0.1, true }, func() (float64, bool) { return 0.25, true }), "+15 points", "worse", "10% in A, 25% in B (+15 points, worse)."},
		{"share unknown", shareRow("Failed requests", "", "", func() (float64, bool) { return 0, false }, func() (float64, bool) { return 0.25, true }), none, "", ""},
		{"fewer unrecovered", faultsRow(measures{Injected: 2, Recovered: 1}, measures{Injected: 2, Recovered: 2}), "1 not recovered in A, 0 in B", "better", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.row
			if r.Summary == "" {
				r.Summary = summaryLine(r)
			}
			if r.Change != tt.change || r.Trend != tt.trend || !strings.Contains(r.Summary, tt.summaryPart) {
				t.Errorf("row = %+v; want change %q, trend %q, a summary with %q", r, tt.change, tt.trend, tt.summaryPart)
			}
		})
	}
}

func TestWriteCompareChoosesFormatByExtension(t *testing.T) {
	a, b := load(t, "resilience-off"), load(t, "resilience-on")
	dir := t.TempDir()
	for file, want := range map[string]string{"c.md": compareMarkdown(t, a, b), "c.html": compareHTML(t, a, b), "sub/c.HTM": compareHTML(t, a, b)} {
		path := filepath.Join(dir, file)
		if err := WriteCompare(path, a, b); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s: content differs from the renderer's (%v)", file, err)
		}
	}
	if err := WriteCompare(filepath.Join(dir, "c.txt"), a, b); err == nil || !strings.Contains(err.Error(), ".html") {
		t.Errorf("WriteCompare(.txt) = %v, want an error naming the formats", err)
	}
	var buf bytes.Buffer
	if CompareHTML(&buf, a, nil) == nil || CompareMarkdown(&buf, nil, b) == nil || SameExperiment(nil, b) == nil {
		t.Error("comparing with a nil journal did not fail")
	}
}

func TestExperimentNameFallsBackToTheJournal(t *testing.T) {
	j := &journal.Journal{Name: "from-journal", Experiment: json.RawMessage(`{"spec":{}}`)}
	if got := experimentName(j); got != "from-journal" {
		t.Errorf("experimentName = %q, want the journal's name", got)
	}
}
