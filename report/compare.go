package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/journal"
)

// ErrDifferentExperiments is the cause of the error SameExperiment returns
// for journals of two different experiments.
var ErrDifferentExperiments = errors.New("the journals are of different experiments")

// experimentName is the name a run's experiment has: metadata.name as run,
// or the journal's name when the experiment cannot be read.
func experimentName(j *journal.Journal) string {
	if n := readSpec(j.Experiment).Name; n != "" {
		return n
	}
	return j.Name
}

// SameExperiment checks that a and b are runs of the same experiment (the
// same metadata.name), as a before/after comparison needs.
func SameExperiment(a, b *journal.Journal) error {
	if a == nil || b == nil {
		return errNoJournal
	}
	if na, nb := experimentName(a), experimentName(b); na != nb {
		return fmt.Errorf("report: A ran %q and B ran %q: %w", na, nb, ErrDifferentExperiments)
	}
	return nil
}

// CompareMarkdown writes the before/after comparison of a and b as
// Markdown.
func CompareMarkdown(w io.Writer, a, b *journal.Journal) error {
	if a == nil || b == nil {
		return errNoJournal
	}
	if err := compareMarkdownTemplate.Execute(w, newComparison(a, b)); err != nil {
		return fmt.Errorf("report: render markdown comparison: %w", err)
	}
	return nil
}

// CompareHTML writes the before/after comparison of a and b as one
// self-contained HTML page, each check's charts from A and B side by side
// on the same scales.
func CompareHTML(w io.Writer, a, b *journal.Journal) error {
	if a == nil || b == nil {
		return errNoJournal
	}
	c := newComparison(a, b)
	c.pairCharts(a, b)
	if err := compareHTMLTemplate.Execute(w, c); err != nil {
		return fmt.Errorf("report: render html comparison: %w", err)
	}
	return nil
}

// compareRenderers maps the file extensions WriteCompare knows to their
// renderer.
var compareRenderers = map[string]func(io.Writer, *journal.Journal, *journal.Journal) error{
	".md":   CompareMarkdown,
	".html": CompareHTML,
	".htm":  CompareHTML,
}

// WriteCompare renders the comparison of a and b into the file at path,
// choosing the format by the extension as Write does.
func WriteCompare(path string, a, b *journal.Journal) error {
	render, ok := compareRenderers[strings.ToLower(filepath.Ext(path))]
	if !ok {
		return fmt.Errorf("report: cannot tell the format of %q: name it .md for Markdown, or .html or .htm for HTML", path)
	}
	var buf bytes.Buffer
	if err := render(&buf, a, b); err != nil {
		return err
	}
	return writeFile(path, buf.Bytes())
}

// comparison is everything a before/after report shows.
type comparison struct {
	Name        string
	Description string
	// Mismatch says that A and B ran different experiments, when they did.
	Mismatch string
	A, B     side
	Changes  []string
	Rows     []compareRow
	Checks   []checkPair
}

// side is one of the two runs.
type side struct {
	Label   string // A or B
	Run     string
	Verdict verdict
}

// Trends of a change, which the HTML colours.
const (
	trendBetter = "better"
	trendWorse  = "worse"
)

// compareRow is one metric in A and in B, and how it changed.
type compareRow struct {
	Name, A, B string
	Change     string
	Trend      string // better, worse, or "" when neither
	// Summary is the row's line in "what changed"; "" leaves it out.
	Summary string
}

// checkPair is one check as A and B saw it; a nil side did not have it.
type checkPair struct {
	Check, Kind string
	A, B        *checkImpact
	ChartA      *chart
	ChartB      *chart
}

func newComparison(a, b *journal.Journal) *comparison {
	sa, sb := readSpec(a.Experiment), readSpec(b.Experiment)
	c := &comparison{
		Name:        experimentName(a),
		Description: sa.Description,
		A:           side{Label: "A", Run: a.Run, Verdict: newVerdict(a, sa.Name)},
		B:           side{Label: "B", Run: b.Run, Verdict: newVerdict(b, sb.Name)},
		Rows:        compareRows(newMeasures(a), newMeasures(b)),
		Checks:      pairs(a, b),
	}
	if err := SameExperiment(a, b); err != nil {
		c.Mismatch = fmt.Sprintf("A and B are runs of different experiments: A ran %s, B ran %s.", quote(experimentName(a)), quote(experimentName(b)))
	}
	for _, r := range c.Rows {
		if r.Summary != "" {
			c.Changes = append(c.Changes, r.Summary)
		}
	}
	return c
}

func compareRows(a, b measures) []compareRow {
	rows := []compareRow{
		verdictRow(a.Status, b.Status),
		detectRow(a.TimeToDetect, b.TimeToDetect),
		durationRow("Time to recover", a.TimeToRecover, b.TimeToRecover, seconds),
		stableRow(a.Stable, b.Stable),
		shareRow("Failed samples", a.failedSamples(), b.failedSamples(), a.failedShare, b.failedShare),
	}
	if a.Requests.Checks > 0 || b.Requests.Checks > 0 {
		rows = append(rows, shareRow("Failed requests", a.Requests.String(), b.Requests.String(), a.Requests.share, b.Requests.share))
	}
	for i := range rows {
		if rows[i].Summary == "" {
			rows[i].Summary = summaryLine(rows[i])
		}
	}
	return append(rows,
		durationRow("Worst latency", a.WorstLatency, b.WorstLatency, latency),
		faultsRow(a, b),
	)
}

// statusRank orders verdicts from best to worst for a comparison; a
// verdict not listed is not ranked.
var statusRank = map[journal.Status]int{journal.Held: 0, journal.Deviated: 1, journal.Aborted: 2}

func verdictRow(a, b journal.Status) compareRow {
	r := compareRow{Name: "Verdict", A: strings.ToUpper(string(a)), B: strings.ToUpper(string(b)), Change: "same"}
	if a == b {
		r.Summary = "The verdict did not change: " + r.A + " in both runs."
		return r
	}
	r.Change = "changed"
	ra, okA := statusRank[a]
	rb, okB := statusRank[b]
	if okA && okB {
		r.Trend = trend(rb < ra)
		r.Change = r.Trend
	}
	r.Summary = "The verdict changed from " + r.A + " to " + r.B + "."
	return r
}

// trend names a change that is better or worse.
func trend(improved bool) string {
	if improved {
		return trendBetter
	}
	return trendWorse
}

// detectRow compares the times to detect. A faster detection is neither
// better nor worse in itself (it also measures how soon the harm began),
// but nothing to detect at all is better.
func detectRow(a, b *float64) compareRow {
	r := durationRow("Time to detect", a, b, seconds)
	switch {
	case a != nil && b != nil:
		r.Trend = ""
	case a != nil:
		r.Change, r.Trend = "nothing failed in B", trendBetter
	case b != nil:
		r.Change, r.Trend = "nothing failed in A", trendWorse
	}
	return r
}

// durationRow compares two spans of time, written by show; a shorter one
// is better. Only a change that can be measured is written.
func durationRow(name string, a, b *float64, show func(*float64) string) compareRow {
	r := compareRow{Name: name, A: show(a), B: show(b), Change: none}
	if a != nil && b != nil {
		r.Change, r.Trend = delta(*b-*a, show)
	}
	return r
}

// delta writes a signed change in the way show writes values: "−0.979 s",
// or "same" when it does not show. A decrease is better.
func delta(d float64, show func(*float64) string) (change, t string) {
	mag := math.Abs(d)
	s := show(&mag)
	if s == show(new(float64)) {
		return "same", ""
	}
	if d < 0 {
		return "−" + s, trendBetter
	}
	return "+" + s, trendWorse
}

func stableRow(a, b stability) compareRow {
	r := durationRow("Time until stable", a.After, b.After, seconds)
	r.A, r.B = a.String(), b.String()
	switch {
	case a.After == nil && a.Why == notReached && b.After != nil:
		r.Change, r.Trend = "stable in B only", trendBetter
	case b.After == nil && b.Why == notReached && a.After != nil:
		r.Change, r.Trend = "stable in A only", trendWorse
	}
	return r
}

// shareRow compares two shares of failures; the change is in percentage
// points, and a drop is better. Its summary gives the shares alone.
func shareRow(name, a, b string, shareA, shareB func() (float64, bool)) compareRow {
	r := compareRow{Name: name, A: a, B: b, Change: none}
	sa, okA := shareA()
	sb, okB := shareB()
	if !okA || !okB {
		return r
	}
	d := (sb - sa) * 100
	switch points := num(math.Abs(d)); {
	case points == "0":
		r.Change = "same"
	case d < 0:
		r.Change, r.Trend = "−"+points+" points", trendBetter
	default:
		r.Change, r.Trend = "+"+points+" points", trendWorse
	}
	r.Summary = summaryLine(compareRow{Name: r.Name, A: share(sa), B: share(sb), Change: r.Change, Trend: r.Trend})
	return r
}

// faultsRow compares faults injected and recovered: fewer left unrecovered
// is better.
func faultsRow(a, b measures) compareRow {
	r := compareRow{Name: "Faults injected / recovered", A: a.faults(), B: b.faults(), Change: "same"}
	ua, ub := a.Injected-a.Recovered, b.Injected-b.Recovered
	switch {
	case ub != ua:
		r.Change = fmt.Sprintf("%d not recovered in A, %d in B", ua, ub)
		r.Trend = trend(ub < ua)
	case r.A != r.B:
		r.Change = "changed"
	}
	return r
}

// Label writes the change with its trend when the change does not name
// it: "−0.979 s, better".
func (r compareRow) Label() string {
	if r.Trend == "" || r.Trend == r.Change {
		return r.Change
	}
	return r.Change + ", " + r.Trend
}

// summaryLine writes a row as a sentence for "what changed".
func summaryLine(r compareRow) string {
	if r.A == r.B {
		return r.Name + ": unchanged at " + r.A + "."
	}
	s := r.Name + ": " + r.A + " in A, " + r.B + " in B"
	if r.Change != none {
		s += " (" + r.Label() + ")"
	}
	return s + "."
}

// pairs matches the checks of a and b by kind and name, in A's order and
// then B's.
func pairs(a, b *journal.Journal) []checkPair {
	var ps []checkPair
	index := map[[2]string]int{}
	add := func(s *journal.Series, inB bool) {
		key := [2]string{s.Kind, s.Check}
		i, seen := index[key]
		if !seen {
			i = len(ps)
			index[key] = i
			ps = append(ps, checkPair{Check: s.Check, Kind: s.Kind})
		}
		ci := newCheckImpact(s)
		if inB {
			ps[i].B = &ci
		} else {
			ps[i].A = &ci
		}
	}
	for _, s := range a.Checks {
		if s != nil {
			add(s, false)
		}
	}
	for _, s := range b.Checks {
		if s != nil {
			add(s, true)
		}
	}
	return ps
}

// pairCharts draws each check of A and B on one time axis that spans the
// longer run, and on one value axis when both measure in the same unit,
// so the two charts of a pair read alike.
func (c *comparison) pairCharts(a, b *journal.Journal) {
	x := timeAxis(max(runEnd(a), runEnd(b)), narrow)
	windowsA := shades(faultWindows(a, runEnd(a)), x.scale)
	windowsB := shades(faultWindows(b, runEnd(b)), x.scale)
	series := func(j *journal.Journal, p checkPair) *journal.Series {
		for _, s := range j.Checks {
			if s != nil && s.Kind == p.Kind && s.Check == p.Check {
				return s
			}
		}
		return nil
	}
	for i := range c.Checks {
		p := &c.Checks[i]
		sa, sb := series(a, *p), series(b, *p)
		var ya, yb axis
		switch {
		case sa != nil && sb != nil && sa.Unit == sb.Unit:
			ya = valueAxis(max(len(windowsA), len(windowsB)), sa, sb)
			yb = ya
		case sa != nil && sb != nil:
			ya, yb = valueAxis(len(windowsA), sa), valueAxis(len(windowsB), sb)
		case sa != nil:
			ya = valueAxis(len(windowsA), sa)
		default:
			yb = valueAxis(len(windowsB), sb)
		}
		id := "chart-" + strconv.Itoa(i+1)
		if sa != nil {
			ch := seriesChart(sa, narrow, x, ya, windowsA)
			ch.ID, ch.Label = id+"-a", "A"
			p.ChartA = &ch
		}
		if sb != nil {
			ch := seriesChart(sb, narrow, x, yb, windowsB)
			ch.ID, ch.Label = id+"-b", "B"
			p.ChartB = &ch
		}
	}
}
