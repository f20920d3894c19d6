package report

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faultline-dev/faultline/journal"
)

// The colours of the report's style sheet, as a browser computes them.
const (
	red   = "rgb(207, 34, 46)" // --deviated
	green = "rgb(26, 127, 55)" // --held
	white = "rgb(255, 255, 255)"
)

// chromiumPath finds Debian's chromium. Without it the browser tests skip
// on a developer's machine and fail in CI, whose test command installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: scripts/test.sh installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium): skipping the browser test")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile, ended when
// the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox, // as root, Chromium refuses to start with its sandbox
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(ctx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelBrowser()
		cancelAlloc()
	})
	return ctx
}

// artifactDir is where the browser tests leave their screenshots:
// $FAULTLINE_TEST_ARTIFACTS when set, since t.TempDir() is removed after
// the test.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FAULTLINE_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifact directory: %v", err)
	}
	return dir
}

// page is what the browser saw of a report.
type page struct {
	Charts   []drawnChart
	Verdicts []drawnVerdict
	// Overflow is how many pixels the page is wider than the window.
	Overflow float64
}

type drawnChart struct {
	ID        string
	W, H      float64
	Lines     []drawn // the series' polylines
	Failed    []drawn // red dots
	Windows   []drawn // shaded fault windows
	Threshold []drawn
}

// drawn is one SVG element as laid out. OnTop says that it is what a
// person sees at its centre (nothing covers it).
type drawn struct {
	W, H                  float64
	Fill, Stroke, Opacity string
	OnTop                 bool
}

type drawnVerdict struct {
	ID, Text          string
	Background, Color string
	W, H              float64
}

// inspect reads the charts and verdicts as the browser laid them out.
const inspect = `(() => {
  const drawn = e => {
    e.scrollIntoView({block: "center"});
    const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
    return {W: r.width, H: r.height, Fill: s.fill, Stroke: s.stroke, Opacity: s.fillOpacity,
            OnTop: top === e && s.visibility === "visible" && s.display !== "none"};
  };
  const all = (root, sel) => [...root.querySelectorAll(sel)].map(drawn);
  const charts = [...document.querySelectorAll("svg.chart")].map(svg => {
    const r = svg.getBoundingClientRect();
    return {ID: svg.closest("figure").id, W: r.width, H: r.height,
            Lines: all(svg, "polyline.series"), Failed: all(svg, "circle.fail"),
            Windows: all(svg, "rect.fault"), Threshold: all(svg, "line.threshold")};
  });
  const verdicts = [...document.querySelectorAll(".verdict")].map(v => {
    const r = v.getBoundingClientRect(), s = getComputedStyle(v);
    return {ID: v.id, Text: v.innerText, Background: s.backgroundColor, Color: s.color, W: r.width, H: r.height};
  });
  window.scrollTo(0, 0);
  return {Charts: charts, Verdicts: verdicts,
          Overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth};
})()`

// wantChart is what one chart must show.
type wantChart struct {
	failed    int
	windows   int
	threshold bool
}

func wantCharts(ss ...*journal.Series) []wantChart {
	var out []wantChart
	for _, s := range ss {
		w := wantChart{windows: 1}
		for _, x := range s.Samples {
			if !x.OK {
				w.failed++
			}
		}
		_, w.threshold = parseThreshold(s.Tolerance, s.Unit)
		out = append(out, w)
	}
	return out
}

func TestReportsInBrowser(t *testing.T) {
	deviated := load(t, "deviated")
	off, on := load(t, "resilience-off"), load(t, "resilience-on")
	var pairs []*journal.Series
	for i := range off.Checks {
		pairs = append(pairs, off.Checks[i], on.Checks[i])
	}
	tests := []struct {
		name     string
		html     string
		charts   []wantChart
		verdicts []drawnVerdict
	}{
		{
			name:     "deviated",
			html:     html(t, deviated),
			charts:   wantCharts(deviated.Checks...),
			verdicts: []drawnVerdict{{ID: "verdict", Text: "DEVIATED", Background: red}},
		},
		{
			name:   "compare",
			html:   compareHTML(t, off, on),
			charts: wantCharts(pairs...),
			verdicts: []drawnVerdict{
				{ID: "verdict-A", Text: "DEVIATED", Background: red},
				{ID: "verdict-B", Text: "HELD", Background: green},
			},
		},
	}
	ctx := newBrowser(t)
	dir := artifactDir(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.Write([]byte(tt.html))
			}))
			defer srv.Close()
			if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"+tt.name+".html")); err != nil {
				t.Fatalf("load the report: %v", err)
			}
			got, err := chromedp.Run(ctx, chromedp.Evaluate[page](inspect))
			if err != nil {
				t.Fatalf("inspect the report: %v", err)
			}
			shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			path := filepath.Join(dir, "report-"+tt.name+".png")
			if err := os.WriteFile(path, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", path)
			if !bytes.HasPrefix(shot, []byte("\x89PNG")) {
				t.Error("the screenshot is not a PNG")
			}
			checkVerdicts(t, got.Verdicts, tt.verdicts)
			checkCharts(t, got.Charts, tt.charts)
			if got.Overflow > 0 {
				t.Errorf("the page is %.0f px wider than the window", got.Overflow)
			}
		})
	}
}

func checkVerdicts(t *testing.T, got, want []drawnVerdict) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d verdicts shown, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.ID || !strings.Contains(g.Text, w.Text) {
			t.Errorf("verdict %d: #%s %q, want #%s saying %s", i, g.ID, g.Text, w.ID, w.Text)
		}
		if g.Background != w.Background || g.Color != white {
			t.Errorf("#%s: %s text on %s, want white on %s", g.ID, g.Color, g.Background, w.Background)
		}
		if g.W == 0 || g.H == 0 {
			t.Errorf("#%s is not drawn: %gx%g", g.ID, g.W, g.H)
		}
	}
}

func checkCharts(t *testing.T, got []drawnChart, want []wantChart) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d charts drawn, want %d", len(got), len(want))
	}
	for i, w := range want {
		c := got[i]
		if c.W < 300 || c.H < 60 {
			t.Errorf("%s: drawn %gx%g px, too small to read", c.ID, c.W, c.H)
		}
		if len(c.Lines) == 0 || c.Lines[0].W == 0 {
			t.Errorf("%s: no series line drawn", c.ID)
		}
		if len(c.Failed) != w.failed {
			t.Errorf("%s: %d red dots, want %d", c.ID, len(c.Failed), w.failed)
		}
		for k, d := range c.Failed {
			red := d.Fill == red || (d.Fill == white && d.Stroke == red) // a hollow dot had no value
			if d.W == 0 || d.H == 0 || !red || !d.OnTop {
				t.Errorf("%s: failed sample %d not visible in red: %+v", c.ID, k, d)
			}
		}
		if len(c.Windows) != w.windows {
			t.Errorf("%s: %d shaded fault windows, want %d", c.ID, len(c.Windows), w.windows)
		}
		for _, r := range c.Windows {
			if r.W <= 0 || r.H <= 0 || r.Opacity == "0" {
				t.Errorf("%s: fault window not shaded: %+v", c.ID, r)
			}
		}
		if drawn := len(c.Threshold) == 1 && c.Threshold[0].W > 0; drawn != w.threshold {
			t.Errorf("%s: threshold drawn = %v, want %v", c.ID, drawn, w.threshold)
		}
	}
}
