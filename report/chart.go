package report

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/journal"
)

// The geometry of a chart, in SVG user units. Every chart of a report has
// the same plot area, so their time axes line up.
const (
	chartW  = 760.0
	chartH  = 180.0
	plotX0  = 64.0
	plotX1  = chartW - 16
	plotY0  = 28.0
	plotY1  = chartH - 30
	maxXTix = 10
	maxYTix = 4
	// headroom keeps the highest value and the threshold off the top edge.
	headroom = 0.05
)

// chart is one check's timeline as coordinates ready for the template:
// numbers are already written, so the SVG is the same on every machine.
type chart struct {
	ID        string
	Check     string
	Probe     string
	Kind      string
	Axis      string // "latency (ms)"
	Tolerance string
	W, H      string
	Plot      box
	XTicks    []tick
	YTicks    []tick
	Windows   []shade
	Threshold string // y of the dashed line, "" for none
	Lines     []string
	Dots      []dot
}

// box is the plot area; TickY is where the time ticks end below it.
type box struct{ X, Y, W, H, X1, Y1, TickY string }

// tick is a mark on an axis at Pos (x for time, y for values).
type tick struct{ Pos, Label string }

// shade is a fault window: a rectangle across the plot, labelled.
type shade struct {
	X, W        string
	LabelY      string
	Label       string
	Title       string
	Unrecovered bool
}

// dot is one sample. A sample without a value sits on the bottom edge,
// hollow.
type dot struct {
	X, Y    string
	OK      bool
	NoValue bool
	Title   string
}

// scale maps one axis from data to SVG units.
type scale struct{ lo, hi, from, to float64 }

func (s scale) at(v float64) float64 {
	return s.from + (v-s.lo)/(s.hi-s.lo)*(s.to-s.from)
}

// maxPlotted bounds the values drawn, so that the span of any two stays
// finite; larger ones are drawn at the bound.
const maxPlotted = 1e300

// plotted is a value as drawn: in its display unit, within ±maxPlotted.
func plotted(v float64, unit string) float64 {
	return min(max(display(v, unit), -maxPlotted), maxPlotted)
}

func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// charts draws every check on the same time axis, 0 to the end of the run.
func charts(j *journal.Journal) []chart {
	end := runEnd(j)
	if end <= 0 {
		end = 1
	}
	x := scale{lo: 0, hi: end, from: plotX0, to: plotX1}
	windows := shades(faultWindows(j, end), x)
	xTicks := timeTicks(end, x)
	cs := make([]chart, 0, len(j.Checks))
	for _, s := range j.Checks {
		if s == nil {
			continue
		}
		c := seriesChart(s, x)
		c.ID = "chart-" + strconv.Itoa(len(cs)+1)
		c.XTicks, c.Windows = xTicks, windows
		cs = append(cs, c)
	}
	return cs
}

func seriesChart(s *journal.Series, x scale) chart {
	unit := displayUnit(s.Unit)
	th, hasTh := parseThreshold(s.Tolerance, s.Unit)
	lo, hi := valueRange(s, th, hasTh)
	hi += (hi - lo) * headroom
	step := niceStep(hi-lo, maxYTix)
	lo, hi = math.Floor(lo/step)*step, math.Ceil(hi/step)*step
	y := scale{lo: lo, hi: hi, from: plotY1, to: plotY0}
	c := chart{
		Check: s.Check, Probe: s.Probe, Kind: s.Kind,
		Axis:      axisLabel(s.Measure, unit),
		Tolerance: s.Tolerance,
		W:         coord(chartW), H: coord(chartH),
		Plot: box{
			X: coord(plotX0), Y: coord(plotY0), W: coord(plotX1 - plotX0), H: coord(plotY1 - plotY0),
			X1: coord(plotX1), Y1: coord(plotY1), TickY: coord(plotY1 + 4),
		},
		YTicks: valueTicks(lo, hi, step, unit, y),
		Lines:  lines(s, x, y),
		Dots:   dots(s, x, y),
	}
	if hasTh {
		c.Threshold = coord(y.at(plotted(th.Value, s.Unit)))
	}
	return c
}

func axisLabel(measure, unit string) string {
	switch {
	case measure == "":
		return unit
	case unit == "":
		return measure
	}
	return measure + " (" + unit + ")"
}

// valueRange spans the values shown and the threshold, from 0 unless
// values go below it.
func valueRange(s *journal.Series, th threshold, hasTh bool) (lo, hi float64) {
	if hasTh {
		v := plotted(th.Value, s.Unit)
		lo, hi = min(lo, v), max(hi, v)
	}
	for _, x := range s.Samples {
		if x.Value != nil {
			v := plotted(*x.Value, s.Unit)
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if hi == lo {
		hi = lo + 1
	}
	return lo, hi
}

// niceStep is the smallest 1, 2 or 5 times a power of ten that cuts span
// into at most n parts.
func niceStep(span float64, n int) float64 {
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

func timeTicks(end float64, x scale) []tick {
	step := niceStep(end, maxXTix)
	var ts []tick
	for i := 0; i <= maxXTix && float64(i)*step <= end*(1+1e-9); i++ {
		t := float64(i) * step
		ts = append(ts, tick{Pos: coord(x.at(t)), Label: num(t) + " s"})
	}
	return ts
}

func valueTicks(lo, hi, step float64, unit string, y scale) []tick {
	var ts []tick
	for i := 0; i <= maxYTix+1 && lo+float64(i)*step <= hi+step*1e-9; i++ {
		v := lo + float64(i)*step
		ts = append(ts, tick{Pos: coord(y.at(v)), Label: withUnit(v, unit)})
	}
	return ts
}

func shades(ws []window, x scale) []shade {
	out := make([]shade, len(ws))
	for i, w := range ws {
		x0, x1 := x.at(w.From), x.at(w.To)
		label, title := w.Fault, w.Step+": "+w.Fault+" from "+at(w.From)+" s to "
		if w.Recovered {
			title += at(w.To) + " s"
		} else {
			label += " (not recovered)"
			title += "the end: not recovered"
		}
		out[i] = shade{
			X: coord(x0), W: coord(max(x1-x0, 1)),
			LabelY:      coord(plotY0 + 12 + float64(i%3)*12),
			Label:       label,
			Title:       title,
			Unrecovered: !w.Recovered,
		}
	}
	return out
}

// lines joins the samples that have a value; a sample without one breaks
// the line.
func lines(s *journal.Series, x, y scale) []string {
	var out []string
	var pts []string
	flush := func() {
		if len(pts) > 1 {
			out = append(out, strings.Join(pts, " "))
		}
		pts = nil
	}
	for _, p := range s.Samples {
		if p.Value == nil {
			flush()
			continue
		}
		pts = append(pts, coord(x.at(p.At))+","+coord(y.at(plotted(*p.Value, s.Unit))))
	}
	flush()
	return out
}

func dots(s *journal.Series, x, y scale) []dot {
	out := make([]dot, len(s.Samples))
	for i, p := range s.Samples {
		d := dot{X: coord(x.at(p.At)), OK: p.OK, NoValue: p.Value == nil, Title: sampleTitle(p, s.Unit)}
		if d.NoValue {
			d.Y = coord(plotY1)
		} else {
			d.Y = coord(y.at(plotted(*p.Value, s.Unit)))
		}
		out[i] = d
	}
	return out
}

// sampleTitle is a sample's hover text: "12.000 s · before · 48 ms · ok".
func sampleTitle(p journal.Sample, unit string) string {
	parts := []string{at(p.At) + " s"}
	if p.Phase != "" {
		parts = append(parts, p.Phase)
	}
	if p.Value != nil {
		parts = append(parts, value(*p.Value, unit))
	}
	if p.OK {
		parts = append(parts, "ok")
	} else {
		parts = append(parts, "failed")
	}
	parts = append(parts, p.Failures...)
	if p.Error != "" && !slices.Contains(p.Failures, p.Error) {
		parts = append(parts, p.Error)
	}
	return strings.Join(parts, " · ")
}
