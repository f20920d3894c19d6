package report

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/journal"
)

// The geometry of a chart, in SVG user units. Every chart of a page has
// the same plot area, so their time axes line up.
const (
	chartH  = 180.0
	plotY0  = 28.0
	plotY1  = chartH - 30
	maxXTix = 10
	maxYTix = 4
	// headroom keeps the top of the value axis, where the highest value
	// or the threshold may be, off the top edge of the plot.
	headroom = 8.0
	// Fault windows are labelled in up to labelRows rows of labelRowH
	// at the top of the plot, above the values.
	labelRows = 3
	labelRowH = 12.0
)

// frame is a chart's width and the span of its plot across it.
type frame struct{ w, x0, x1 float64 }

var (
	// wide is the frame of a report's charts, one to a row.
	wide = frame{w: 760, x0: 64, x1: 744}
	// narrow is the frame of a comparison's charts, two to a row: drawn
	// in half the room, their text stays as large.
	narrow = frame{w: 500, x0: 64, x1: 484}
)

// chart is one check's timeline as coordinates ready for the template:
// numbers are already written, so the SVG is the same on every machine.
type chart struct {
	ID string
	// Label names the run a chart shows in a comparison (A or B).
	Label     string
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
	x := timeAxis(runEnd(j), wide)
	windows := shades(faultWindows(j, x.hi), x.scale)
	cs := make([]chart, 0, len(j.Checks))
	for _, s := range j.Checks {
		if s == nil {
			continue
		}
		c := seriesChart(s, wide, x, valueAxis(len(windows), s), windows)
		c.ID = "chart-" + strconv.Itoa(len(cs)+1)
		cs = append(cs, c)
	}
	return cs
}

// axis is a scale and the ticks drawn along it.
type axis struct {
	scale
	ticks []tick
}

// timeAxis spans 0 to end seconds across the plot of f.
func timeAxis(end float64, f frame) axis {
	if end <= 0 {
		end = 1
	}
	x := scale{lo: 0, hi: end, from: f.x0, to: f.x1}
	return axis{scale: x, ticks: timeTicks(end, x)}
}

// valueAxis spans the values and thresholds of every series given, all in
// the unit of the first, so that charts drawn on it can be compared. The
// values stay below the labels of the number of fault windows given.
func valueAxis(windows int, ss ...*journal.Series) axis {
	unit := ss[0].Unit
	lo, hi := valueRange(ss)
	step := niceStep(hi-lo, maxYTix)
	lo, hi = math.Floor(lo/step)*step, math.Ceil(hi/step)*step
	top := plotY0 + headroom + float64(min(windows, labelRows))*labelRowH
	y := scale{lo: lo, hi: hi, from: plotY1, to: top}
	return axis{scale: y, ticks: valueTicks(lo, hi, step, displayUnit(unit), y)}
}

func seriesChart(s *journal.Series, f frame, x, y axis, windows []shade) chart {
	th, hasTh := parseThreshold(s.Tolerance, s.Unit)
	c := chart{
		Check: s.Check, Probe: s.Probe, Kind: s.Kind,
		Axis:      axisLabel(s.Measure, displayUnit(s.Unit)),
		Tolerance: s.Tolerance,
		W:         coord(f.w), H: coord(chartH),
		Plot: box{
			X: coord(f.x0), Y: coord(plotY0), W: coord(f.x1 - f.x0), H: coord(plotY1 - plotY0),
			X1: coord(f.x1), Y1: coord(plotY1), TickY: coord(plotY1 + 4),
		},
		XTicks:  x.ticks,
		YTicks:  y.ticks,
		Windows: windows,
		Lines:   lines(s, x.scale, y.scale),
		Dots:    dots(s, x.scale, y.scale),
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

// valueRange spans the values shown and the thresholds, from 0 unless
// values go below it.
func valueRange(ss []*journal.Series) (lo, hi float64) {
	for _, s := range ss {
		if th, ok := parseThreshold(s.Tolerance, s.Unit); ok {
			v := plotted(th.Value, s.Unit)
			lo, hi = min(lo, v), max(hi, v)
		}
		for _, x := range s.Samples {
			if x.Value != nil {
				v := plotted(*x.Value, s.Unit)
				lo, hi = min(lo, v), max(hi, v)
			}
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
			LabelY:      coord(plotY0 + float64(i%labelRows+1)*labelRowH),
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
