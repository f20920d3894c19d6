package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/journal"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixtures are journals in testdata; resilience-off and resilience-on are
// the same experiment before and after a fix, with a load check.
var fixtures = []string{"held", "deviated", "aborted", "resilience-off", "resilience-on"}

func load(t *testing.T, name string) *journal.Journal {
	t.Helper()
	j, err := journal.Read(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func render(t *testing.T, f func(w *bytes.Buffer, j *journal.Journal) error, j *journal.Journal) string {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b, j); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func markdown(t *testing.T, j *journal.Journal) string {
	return render(t, func(w *bytes.Buffer, j *journal.Journal) error { return Markdown(w, j) }, j)
}

func html(t *testing.T, j *journal.Journal) string {
	return render(t, func(w *bytes.Buffer, j *journal.Journal) error { return HTML(w, j) }, j)
}

func TestGolden(t *testing.T) {
	for _, name := range fixtures {
		j := load(t, name)
		for ext, got := range map[string]string{"md": markdown(t, j), "html": html(t, j)} {
			t.Run(name+"."+ext, func(t *testing.T) { golden(t, name+"."+ext, got) })
		}
	}
}

// golden compares got with the file testdata/name, or rewrites the file
// with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report/ -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file; if the change is meant, run go test ./report/ -update and review the diff", path)
	}
}

// svgChart is what the tests read back from each chart's SVG.
type svgChart struct {
	Rects    []svgShape `xml:"rect"`
	Circles  []svgShape `xml:"circle"`
	Lines    []svgShape `xml:"line"`
	Polyline []svgShape `xml:"polyline"`
	Texts    []struct {
		Class string `xml:"class,attr"`
		Text  string `xml:",chardata"`
	} `xml:"text"`
}

type svgShape struct {
	Class string `xml:"class,attr"`
	X     string `xml:"x,attr"`
	CX    string `xml:"cx,attr"`
	W     string `xml:"width,attr"`
}

func (c svgChart) count(elems []svgShape, class string) int {
	n := 0
	for _, e := range elems {
		if strings.Contains(" "+e.Class+" ", " "+class+" ") {
			n++
		}
	}
	return n
}

var svgRE = regexp.MustCompile(`(?s)<svg .*?</svg>`)

// charts parses every SVG of an HTML report as XML.
func parseCharts(t *testing.T, page string) []svgChart {
	t.Helper()
	var cs []svgChart
	for _, s := range svgRE.FindAllString(page, -1) {
		var c svgChart
		if err := xml.Unmarshal([]byte(s), &c); err != nil {
			t.Fatalf("chart is not well-formed SVG: %v\n%s", err, s)
		}
		cs = append(cs, c)
	}
	return cs
}

func TestChartsShowSamplesAndFaultWindows(t *testing.T) {
	windows := map[string]int{"held": 1, "deviated": 1, "aborted": 2, "resilience-off": 1, "resilience-on": 1}
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			j := load(t, name)
			cs := parseCharts(t, html(t, j))
			if len(cs) != len(j.Checks) {
				t.Fatalf("%d charts for %d checks", len(cs), len(j.Checks))
			}
			for i, s := range j.Checks {
				c := cs[i]
				failed := 0
				for _, x := range s.Samples {
					if !x.OK {
						failed++
					}
				}
				if got := c.count(c.Circles, "fail"); got != failed {
					t.Errorf("%s: %d red dots, want one per failed sample: %d", s.Check, got, failed)
				}
				if got := c.count(c.Circles, "ok"); got != len(s.Samples)-failed {
					t.Errorf("%s: %d green dots, want %d", s.Check, got, len(s.Samples)-failed)
				}
				if got := c.count(c.Rects, "fault"); got != windows[name] {
					t.Errorf("%s: %d shaded fault windows, want %d", s.Check, got, windows[name])
				}
				_, single := parseThreshold(s.Tolerance, s.Unit)
				if got := c.count(c.Lines, "threshold") == 1; got != single {
					t.Errorf("%s: tolerance %q: threshold line drawn = %v, want %v", s.Check, s.Tolerance, got, single)
				}
			}
		})
	}
}

func TestFailedSampleWithoutValueIsMarked(t *testing.T) {
	j := load(t, "deviated")
	c := parseCharts(t, html(t, j))[0]
	if got := c.count(c.Circles, "novalue"); got != 1 {
		t.Errorf("%d hollow dots, want 1 for the sample that timed out", got)
	}
	if len(c.Polyline) != 2 {
		t.Errorf("%d line segments, want 2: the timed-out sample breaks the line", len(c.Polyline))
	}
}

func TestUnrecoveredFaultShadesToTheEnd(t *testing.T) {
	j := load(t, "aborted")
	c := parseCharts(t, html(t, j))[0]
	if n := c.count(c.Rects, "unrecovered"); n != 1 {
		t.Fatalf("%d fault windows marked unrecovered, want 1", n)
	}
	var pause svgShape
	for _, r := range c.Rects {
		if r.Class == "fault unrecovered" {
			pause = r
		}
	}
	if got := num(mustFloat(t, pause.X) + mustFloat(t, pause.W)); got != num(wide.x1) {
		t.Errorf("unrecovered fault window ends at x=%s, want the end of the plot %s", got, num(wide.x1))
	}
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	var f float64
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return f
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		name          string
		class, status string
		mark          string
	}{
		{"held", "held", "HELD", "🟢"},
		{"deviated", "deviated", "DEVIATED", "🔴"},
		{"aborted", "aborted", "ABORTED", "🟠"},
	}
	for _, tt := range tests {
		j := load(t, tt.name)
		h := html(t, j)
		if want := `<div class="verdict ` + tt.class + `" id="verdict"><span class="status">` + tt.status + `</span> ` + j.Name; !strings.Contains(h, want) {
			t.Errorf("%s: HTML lacks the verdict %q", tt.name, want)
		}
		if want := tt.mark + " **" + tt.status + "** — " + j.Name; !strings.Contains(markdown(t, j), want) {
			t.Errorf("%s: Markdown lacks the verdict %q", tt.name, want)
		}
	}
}

func TestVerdictOfInvalidAndDryRun(t *testing.T) {
	j := &journal.Journal{Name: "x", Status: journal.Invalid, Reason: "spec.method: empty", DryRun: true}
	h := html(t, j)
	for _, want := range []string{`class="verdict invalid"`, "INVALID", "spec.method: empty", `<span class="dry">dry run</span>`} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if m := markdown(t, j); !strings.Contains(m, "⚪ **INVALID** — x — spec.method: empty — started —, took —") || !strings.Contains(m, "**dry run**") {
		t.Errorf("Markdown verdict line wrong:\n%s", m[:strings.Index(m, "## ")])
	}
}

func TestZeroChecksStillRenders(t *testing.T) {
	j := &journal.Journal{
		APIVersion: journal.APIVersion,
		Name:       "just-a-pause",
		Status:     journal.Held,
		Experiment: json.RawMessage(`{"metadata":{"name":"just-a-pause"},"spec":{"method":[{"name":"nap","wait":"1s"}]}}`),
		Started:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Ended:      time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC),
	}
	h, m := html(t, j), markdown(t, j)
	for _, want := range []string{"No hypothesis", "No checks were sampled", "No fault was injected", "No events", "Five whys"} {
		if !strings.Contains(strings.ToLower(h), strings.ToLower(want)) || !strings.Contains(strings.ToLower(m), strings.ToLower(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(h, "<svg") {
		t.Error("HTML has a chart though there are no checks")
	}
	if !strings.Contains(m, "| 1 | nap | wait |  |  | 1s |") {
		t.Errorf("Markdown lacks the wait step:\n%s", m)
	}
}

func TestUnreadableExperimentIsReported(t *testing.T) {
	j := &journal.Journal{Name: "x", Status: journal.Held, Experiment: json.RawMessage(`"not an object"`)}
	for _, out := range []string{html(t, j), markdown(t, j)} {
		if !strings.Contains(out, "cannot be read") {
			t.Errorf("report does not say the experiment cannot be read:\n%s", out)
		}
	}
}

const evil = "<script>alert(1)</script> | `x` *y* [z](http://e) &amp;\nline"

func hostile() *journal.Journal {
	v := 0.5
	exp, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"name": evil, "annotations": map[string]string{"description": evil}},
		"spec": map[string]any{
			"hypothesis": map[string]any{"every": evil, "checks": []any{map[string]any{
				"name": evil, "probe": evil, "params": map[string]string{"u": evil},
				"expect": []any{map[string]any{"measure": evil, "tolerance": evil}},
			}}},
			"method": []any{map[string]any{"name": evil, "fault": evil, "duration": evil,
				"target": map[string]any{"process": map[string]string{"cmdline": evil}, "mode": evil}}},
		},
	})
	return &journal.Journal{
		Run: evil, Name: evil, Host: evil, Reason: evil, Status: journal.Status(evil), Experiment: exp,
		Events: []journal.Event{{At: 1, Type: journal.EventType(evil), Step: evil, Check: evil, Message: evil}},
		Checks: []*journal.Series{{Check: evil, Probe: evil, Kind: evil, Measure: evil, Unit: evil, Tolerance: evil,
			Samples: []journal.Sample{{At: 1, Phase: evil, Value: &v, Failures: []string{evil}, Error: evil}}}},
		Targets: []journal.Hit{{Step: evil, Fault: evil, Target: evil, InjectedAt: 1, Error: evil}},
	}
}

func TestHTMLEscapesEverything(t *testing.T) {
	h := html(t, hostile())
	if strings.Contains(strings.ToLower(h), "<script") {
		t.Error("a <script> from the journal reached the HTML")
	}
	if n := len(parseCharts(t, h)); n != 1 {
		t.Errorf("%d charts, want 1", n)
	}
}

var unescapedLT = regexp.MustCompile(`(^|[^\\])<`)

func TestMarkdownEscapesEverything(t *testing.T) {
	assertSafeMarkdown(t, markdown(t, hostile()))
}

// assertSafeMarkdown fails when raw HTML can get through m, or a table
// row has more or fewer cells than its table.
func assertSafeMarkdown(t *testing.T, m string) {
	t.Helper()
	inCode := regexp.MustCompile("``[^`].*?``|`[^`]*`")
	cols := -1
	for i, line := range strings.Split(m, "\n") {
		outside := inCode.ReplaceAllString(line, "")
		if unescapedLT.MatchString(outside) {
			t.Errorf("line %d: raw HTML can get through: %s", i+1, line)
		}
		if !strings.HasPrefix(line, "|") {
			cols = -1
			continue
		}
		n := strings.Count(line, "|") - strings.Count(line, `\|`)
		if cols >= 0 && n != cols {
			t.Errorf("line %d: %d cells, the table has %d: %s", i+1, n, cols, line)
		}
		cols = n
	}
}

func TestWriteChoosesFormatByExtension(t *testing.T) {
	j := load(t, "held")
	dir := t.TempDir()
	for _, tt := range []struct{ file, want string }{
		{"r.md", markdown(t, j)},
		{"r.html", html(t, j)},
		{"sub/r.HTM", html(t, j)},
	} {
		path := filepath.Join(dir, tt.file)
		if err := Write(path, j); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s: content differs from the renderer's", tt.file)
		}
	}
	err := Write(filepath.Join(dir, "r.pdf"), j)
	if err == nil || !strings.Contains(err.Error(), ".md") || !strings.Contains(err.Error(), ".html") || !strings.Contains(err.Error(), ".htm") {
		t.Errorf("Write(.pdf) = %v, want an error naming .md, .html and .htm", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "r.pdf")); !os.IsNotExist(err) {
		t.Error("Write(.pdf) left a file")
	}
}

func TestNilJournal(t *testing.T) {
	var b bytes.Buffer
	if Markdown(&b, nil) == nil || HTML(&b, nil) == nil {
		t.Error("rendering a nil journal did not fail")
	}
}
