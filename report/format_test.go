package report

import (
	"math"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/journal"
)

func TestNum(t *testing.T) {
	for in, want := range map[float64]string{
		0: "0", -0.0001: "0", 200: "200", 0.95: "0.95", 1.0 / 3: "0.333", 0.1 + 0.2: "0.3", 1234.5678: "1234.568",
	} {
		if got := num(in); got != want {
			t.Errorf("num(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestValueShowsSecondsAsMilliseconds(t *testing.T) {
	for _, tt := range []struct {
		v          float64
		unit, want string
	}{
		{0.123, "s", "123 ms"},
		{0.0125, "s", "12.5 ms"},
		{140, "", "140"},
		{3, "MiB", "3 MiB"},
	} {
		if got := value(tt.v, tt.unit); got != tt.want {
			t.Errorf("value(%v, %q) = %q, want %q", tt.v, tt.unit, got, tt.want)
		}
	}
}

func TestParseThreshold(t *testing.T) {
	for _, tt := range []struct {
		tol, unit string
		want      threshold
		ok        bool
	}{
		{"< 300ms", "s", threshold{"<", 0.3}, true},
		{"< 0.3", "s", threshold{"<", 0.3}, true},
		{"<=1s", "s", threshold{"<=", 1}, true},
		{">= 99%", "", threshold{">=", 0.99}, true},
		{"> 0.99", "", threshold{">", 0.99}, true},
		{"< 100", "", threshold{"<", 100}, true},
		{"200", "", threshold{}, false},
		{"2xx", "", threshold{}, false},
		{"[200, 204]", "", threshold{}, false},
		{"100-200", "", threshold{}, false},
		{"< 300ms", "", threshold{}, false},
		{"!= 0", "", threshold{}, false},
		{"", "s", threshold{}, false},
	} {
		got, ok := parseThreshold(tt.tol, tt.unit)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseThreshold(%q, %q) = %v, %v; want %v, %v", tt.tol, tt.unit, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNiceStep(t *testing.T) {
	for _, tt := range []struct {
		span float64
		n    int
		want float64
	}{
		{30, 10, 5}, {12, 10, 2}, {20, 10, 2}, {1, 4, 0.5}, {900, 4, 500}, {140, 4, 50}, {7, 10, 1},
	} {
		if got := niceStep(tt.span, tt.n); num(got) != num(tt.want) {
			t.Errorf("niceStep(%v, %d) = %v, want %v", tt.span, tt.n, got, tt.want)
		}
	}
}

func TestMarkdownCodeSpan(t *testing.T) {
	for in, want := range map[string]string{
		"< 300ms": "`< 300ms`",
		"a`b":     "``a`b``",
		"`a`":     "`` `a` ``",
		"x\ny":    "`x y`",
	} {
		if got := mdCode(in); got != want {
			t.Errorf("mdCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWorstValueFollowsTheTolerance(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	s := &journal.Series{Tolerance: "> 0.9", Samples: []journal.Sample{
		{Phase: "during", Value: f(0.95), OK: true}, {Phase: "during", Value: f(0.5)}, {Phase: "during", Value: f(0.99), OK: true},
	}}
	if got := phases(s)[0].Worst; got != "0.5" {
		t.Errorf("worst of a '> 0.9' check = %s, want the lowest value 0.5", got)
	}
	s.Tolerance = "< 0.9"
	if got := phases(s)[0].Worst; got != "0.99" {
		t.Errorf("worst of a '< 0.9' check = %s, want the highest value 0.99", got)
	}
}

func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"< 300ms", ">= 99%", "< NaN", "> Inf", "<= 1e400", "2xx", "< 0.3"} {
		f.Add(s, "s")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, tol, unit string) {
		th, ok := parseThreshold(tol, unit)
		if ok && (math.IsNaN(th.Value) || math.IsInf(th.Value, 0)) {
			t.Errorf("parseThreshold(%q, %q) = %v: not a finite threshold", tol, unit, th)
		}
	})
}

func TestExtremeValuesStillDraw(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	j := &journal.Journal{Status: journal.Held, Checks: []*journal.Series{{
		Check: "c", Tolerance: "< 1e308", Samples: []journal.Sample{
			{At: 0, Value: f(-math.MaxFloat64)}, {At: 1e9, Value: f(math.MaxFloat64)}, {At: 2, Value: f(5e-324)},
		},
	}}}
	for _, c := range charts(j) {
		for _, s := range append([]string{c.Threshold}, c.Lines...) {
			if strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
				t.Errorf("chart has a coordinate that is not a number: %s", s)
			}
		}
		for _, d := range c.Dots {
			if strings.Contains(d.X+d.Y, "NaN") || strings.Contains(d.X+d.Y, "Inf") {
				t.Errorf("dot at (%s, %s)", d.X, d.Y)
			}
		}
		if len(c.YTicks) == 0 || len(c.XTicks) == 0 || len(c.YTicks) > maxYTix+2 || len(c.XTicks) > maxXTix+1 {
			t.Errorf("%d value ticks and %d time ticks", len(c.YTicks), len(c.XTicks))
		}
	}
}
