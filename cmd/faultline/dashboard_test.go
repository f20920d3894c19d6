package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faultline-dev/faultline/internal/procfs"
)

// The dashboard in a real browser, against a real `faultline server` and
// a real `faultline agent`: sign in with the admin token, make an agent
// token in Settings and start the agent with it, see the agent online,
// write an experiment (a typo is reported next to its line, then fixed
// by typing), save it, start a run on the agent, watch the timeline
// chart fill with samples (red while the fault breaks the check, the
// fault window shaded), press HALT THIS RUN and see every fault
// recovered — with the paused process running again — then the same with
// the global HALT ALL. Page weight and first paint are measured on the
// first, cold load. Screenshots go to $FAULTLINE_TEST_ARTIFACTS (or a
// temporary directory); their paths are logged.
func TestDashboardInBrowser(t *testing.T) {
	chromium := dashChromium(t)
	const admin = "fl_dashboard-test-admin"
	deadline := time.Now().Add(60 * time.Second) // the whole test, browser included

	// The target: a sleeper, paused by the experiment and selected by pid;
	// the check's service fails while the sleeper is stopped, so the chart
	// has red samples inside the fault window.
	sleeper := exec.Command("sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	pid := sleeper.Process.Pid
	t.Cleanup(func() {
		_ = sleeper.Process.Signal(syscall.SIGCONT)
		_ = sleeper.Process.Kill()
		_ = sleeper.Wait()
	})
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if st, err := procfs.ReadStat(pid); err == nil && (st.State == 'T' || st.State == 't') {
			http.Error(w, "the sleeper is frozen", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(svc.Close)

	url := dashServer(t, admin)
	b := newDashBrowser(t, chromium, deadline)

	// Cold load of the login page: weight and first paint.
	b.do("open the dashboard", chromedp.Navigate(url+"/"))
	b.wait("the login form", `document.querySelector("#login #token") !== null`, 5*time.Second)
	b.wait("the first contentful paint", `performance.getEntriesByType("paint").some(p => p.name === "first-contentful-paint")`, 5*time.Second)
	cold := b.perf()
	t.Logf("cold load of the login page: %d requests, %d bytes transferred (%d decoded), first paint %.0f ms, first contentful paint %.0f ms, DOMContentLoaded %.0f ms, load %.0f ms",
		cold.Requests, cold.Transfer, cold.Decoded, cold.FirstPaint, cold.FCP, cold.DOMContentLoaded, cold.Load)
	if cold.Transfer > 64<<10 || cold.Transfer == 0 {
		t.Errorf("the dashboard's first load transferred %d bytes; the budget is 64 KiB", cold.Transfer)
	}
	if cold.FCP > 3000 {
		t.Errorf("first contentful paint after %.0f ms; want under 3 s on loopback", cold.FCP)
	}
	b.shot("01-login")

	// A wrong token is refused on the page; the right one signs in.
	b.do("type a wrong token", chromedp.SendKeys("#token", "fl_wrong"), chromedp.Click(`#login button[type=submit]`))
	b.wait("the refusal", `document.querySelector("#login-error").textContent.includes("not accepted")`, 5*time.Second)
	b.clear("#token")
	b.do("sign in", chromedp.SendKeys("#token", admin), chromedp.Click(`#login button[type=submit]`))
	b.wait("the runs page", `document.querySelector("#runs") !== null && !document.querySelector("#top").hidden`, 5*time.Second)
	if who := b.text("#whoami"); !strings.Contains(who, "admin") {
		t.Errorf("the top bar says %q, want the admin token's name and role", who)
	}

	// Settings: an agent token for dash-agent, shown once, used to start
	// that agent.
	b.do("open settings", chromedp.Click(`#nav a[data-page=settings]`))
	b.wait("the token form", `document.querySelector("#token-form") !== null`, 5*time.Second)
	b.do("choose the agent role", chromedp.SendKeys("#tok-name", "dashboard-agent"), chromedp.SetValue("#tok-role", "agent"))
	b.eval(`document.querySelector("#tok-role").dispatchEvent(new Event("change"))`, nil)
	b.do("create an agent token for dash-agent", chromedp.SendKeys("#tok-agent", "dash-agent"), chromedp.Click(`#token-form button[type=submit]`))
	b.wait("the new secret", `document.querySelector("#new-secret") !== null`, 5*time.Second)
	secret := b.text("#new-secret")
	if !strings.HasPrefix(secret, "fl_") {
		t.Fatalf("the page shows the secret %q", secret)
	}
	b.wait("the token in the list", `document.querySelector('#tokens tr[data-token="dashboard-agent"]') !== null`, 5*time.Second)
	viewer := b.createToken("dashboard-viewer", "viewer")
	b.createToken("to-revoke", "runner")
	b.do("press Revoke", chromedp.Click(`#tokens tr[data-token="to-revoke"] button.revoke`))
	if armed := b.text(`#tokens tr[data-token="to-revoke"] button.revoke`); armed != "Confirm revoke" {
		t.Errorf("after one press Revoke reads %q", armed)
	}
	b.do("confirm Revoke", chromedp.Click(`#tokens tr[data-token="to-revoke"] button.revoke`))
	b.wait("the token revoked", `document.querySelector('#tokens tr[data-token="to-revoke"] .pill').textContent === "revoked"`, 5*time.Second)
	b.shot("02-settings")
	dashAgent(t, url, secret)

	b.do("open agents", chromedp.Click(`#nav a[data-page=agents]`))
	b.wait("the agent online", `document.querySelector('tr.agent-row[data-name="dash-agent"] .pill.online') !== null`, 15*time.Second)
	if labels := b.text(`tr.agent-row[data-name="dash-agent"]`); !strings.Contains(labels, "role=dashboard-test") {
		t.Errorf("the agent's row %q lacks its label", labels)
	}
	b.shot("03-agents")

	// The editor: a typo is reported at its line and column while typing,
	// next to the text; typing the fix makes the document valid.
	doc := strings.NewReplacer("$SVC", svc.URL, "$PID", fmt.Sprint(pid)).Replace(dashDocument)
	typo := strings.Replace(doc, "process.pause", "process.pasue", 1)
	line, col := dashPosition(typo, "process.pasue")
	b.do("open experiments", chromedp.Click(`#nav a[data-page=experiments]`))
	b.do("new experiment", chromedp.Click("#new-experiment"))
	b.wait("the editor", `document.querySelector("#document") !== null`, 5*time.Second)
	b.eval(fmt.Sprintf(`(() => { const ta = document.querySelector("#document"); ta.value = %s; ta.dispatchEvent(new Event("input")); })()`, dashJS(typo)), nil)
	b.wait("the typo reported", `[...document.querySelectorAll("#errors li")].some(li => li.textContent.includes("did you mean"))`, 5*time.Second)
	errs := b.text("#errors")
	if want := fmt.Sprintf("%d:%d", line, col); !strings.Contains(errs, want) || !strings.Contains(errs, `"process.pause"`) {
		t.Errorf("the errors say %q; want the position %s and the suggestion", errs, want)
	}
	var marked []int
	b.eval(`[...document.querySelectorAll(".gutter div.err")].map(d => Number(d.textContent))`, &marked)
	if len(marked) != 1 || marked[0] != line {
		t.Errorf("the gutter marks lines %v, want [%d]", marked, line)
	}
	var lensed struct {
		Text       string
		Top, Gut   float64
		Left, Line float64 // the message starts after the line's text
	}
	b.eval(`(() => {
  const m = document.querySelector(".lens-msg"), g = document.querySelector(".gutter div.err");
  const ta = document.querySelector("#document");
  const line = ta.value.split("\n").find(l => l.includes("process.pasue"));
  const probe = document.querySelector(".lens-probe").getBoundingClientRect().width / 50;
  return {Text: m ? m.textContent : "", Top: m ? m.getBoundingClientRect().top : -1, Gut: g ? g.getBoundingClientRect().top : -2,
    Left: m ? m.getBoundingClientRect().left - ta.getBoundingClientRect().left : 0, Line: line.length * probe};
})()`, &lensed)
	if !strings.Contains(lensed.Text, "did you mean") || lensed.Top != lensed.Gut || lensed.Left <= lensed.Line {
		t.Errorf("the error is not written after its line in the text: %+v", lensed)
	}
	b.shot("04-editor-error")
	b.eval(`(() => { const ta = document.querySelector("#document"); const i = ta.value.indexOf("process.pasue") + 8; ta.focus(); ta.setSelectionRange(i, i + 5); })()`, nil)
	b.do("type the fix", chromedp.SendKeys("#document", "pause"))
	b.wait("the document valid", `document.querySelector("#validity").textContent.includes("Valid: experiment dashboard-pause")`, 5*time.Second)
	var typed string
	b.eval(`document.querySelector("#document").value`, &typed)
	if typed != doc {
		t.Fatalf("after typing the fix the editor holds:\n%s", typed)
	}
	b.do("save", chromedp.Click("#save"))
	b.wait("the saved experiment", `location.hash === "#/experiments/dashboard-pause" && document.querySelector("#run-panel") !== null`, 5*time.Second)

	// A run on the agent, live.
	runID := b.startRun()
	b.wait("samples, a red one and the fault window on the chart",
		`document.querySelectorAll("#charts svg.chart circle").length >= 4 && document.querySelector("#charts svg.chart circle.fail") && document.querySelector("#charts svg.chart rect.fault")`,
		20*time.Second)
	if s := state(t, pid); s != 'T' {
		t.Errorf("the page shows the fault in place but the sleeper's state is %c", s)
	}
	before := b.count("#charts svg.chart circle")
	b.wait("more samples", fmt.Sprintf(`document.querySelectorAll("#charts svg.chart circle").length > %d`, before), 5*time.Second)
	if s := b.text("#fault-summary"); !strings.Contains(s, "1 of 1 fault in place") {
		t.Errorf("the fault summary says %q while the fault is in place", s)
	}
	live := b.layout()
	t.Logf("run page while the fault is in place: %+v", live)
	if live.Overflow > 0 {
		t.Errorf("the run page is %.0f px wider than a laptop's window (%.0f px)", live.Overflow, live.Width)
	}
	if !live.HaltOnScreen || live.HaltColor != "rgb(207, 34, 46)" {
		t.Errorf("the halt button is not red and on the first screen: %+v", live)
	}
	if live.ChartTop > live.Height || live.ChartTop <= 0 {
		t.Errorf("the chart starts at y=%.0f, below the first screen (%.0f px high)", live.ChartTop, live.Height)
	}
	b.shot("05-run-live")

	// Halt this run: every fault recovered, on the page and on the host.
	b.do("press HALT THIS RUN", chromedp.Click("#halt-run"))
	b.wait("every fault recovered and the run ended",
		`document.querySelector("#fault-summary").textContent === "All 1 fault recovered." && document.querySelector("#run-status").textContent === "aborted" && !document.querySelector("#verdict").hidden`,
		15*time.Second)
	assertSleeperRuns(t, pid)
	if pills := b.texts("#faults .pill"); len(pills) != 1 || pills[0] != "recovered" {
		t.Errorf("the faults table shows %q, want one recovered", pills)
	}
	if v := b.text("#verdict"); !strings.Contains(v, "ABORTED") || !strings.Contains(v, "halted") {
		t.Errorf("the verdict says %q", v)
	}
	b.shot("06-run-halted")

	b.do("open agents", chromedp.Click(`#nav a[data-page=agents]`))
	b.wait("no open fault on the agent", `document.querySelector('tr.agent-row[data-name="dash-agent"] .open-faults').textContent.trim() === "0"`, 10*time.Second)

	// HALT ALL: a second run, stopped by the global button (armed, then
	// confirmed).
	b.do("back to the experiment", chromedp.Navigate(url+"/#/experiments/dashboard-pause"))
	b.wait("the run panel", `document.querySelector("#run-panel") !== null`, 5*time.Second)
	second := b.startRun()
	if second == runID {
		t.Fatal("the second run has the first one's id")
	}
	b.wait("the fault in place", `document.querySelector("#fault-summary").textContent.includes("in place")`, 20*time.Second)
	if s := state(t, pid); s != 'T' {
		t.Errorf("second run: the sleeper's state is %c, want stopped", s)
	}
	b.do("arm HALT ALL", chromedp.Click("#halt-all"))
	if armed := b.text("#halt-all"); armed != "CONFIRM HALT ALL" {
		t.Errorf("after one press HALT ALL reads %q", armed)
	}
	b.do("confirm HALT ALL", chromedp.Click("#halt-all"))
	b.wait("every fault recovered after HALT ALL",
		`document.querySelector("#fault-summary").textContent === "All 1 fault recovered." && document.querySelector("#run-status").textContent === "aborted"`, 15*time.Second)
	assertSleeperRuns(t, pid)
	if toast := b.text("#toasts"); !strings.Contains(toast, "Halted 1 run") {
		t.Errorf("HALT ALL said %q", toast)
	}
	b.shot("07-halt-all")

	// The other pages show what happened.
	b.do("open runs", chromedp.Click(`#nav a[data-page=runs]`))
	b.wait("both runs aborted", `document.querySelectorAll("#runs .pill.aborted").length === 2`, 5*time.Second)
	b.shot("08-runs")
	b.do("open experiments", chromedp.Click(`#nav a[data-page=experiments]`))
	b.wait("the experiment listed", `document.querySelector("#experiments").textContent.includes("dashboard-pause")`, 5*time.Second)
	b.shot("09-experiments")
	b.do("open schedules", chromedp.Click(`#nav a[data-page=schedules]`))
	b.wait("the schedule form", `document.querySelector("#new-schedule") !== null`, 5*time.Second)
	b.do("create a schedule", chromedp.SendKeys("#sch-name", "new-year"), chromedp.SetValue("#sch-cron", "0 3 1 1 *"),
		chromedp.Click(`#new-schedule button[type=submit]`))
	b.wait("the schedule listed", `document.querySelector("#schedules").textContent.includes("new-year")`, 5*time.Second)
	b.shot("10-schedules")
	b.do("open the audit log", chromedp.Click(`#nav a[data-page=audit]`))
	b.wait("the halts audited", `["run.halt", "halt.all", "token.create", "experiment.create"].every(a => document.querySelector("#audit").textContent.includes(a))`, 5*time.Second)
	b.shot("11-audit")

	// Warm reload of a page with data: assets come from the cache.
	b.do("reload the runs page", chromedp.Navigate(url+"/#/runs"), chromedp.Reload())
	b.wait("the runs table", `document.querySelectorAll("#runs .pill").length === 2`, 5*time.Second)
	warm := b.perf()
	t.Logf("warm reload of the runs page: %d requests, %d bytes transferred, first contentful paint %.0f ms, load %.0f ms",
		warm.Requests, warm.Transfer, warm.FCP, warm.Load)

	// A viewer sees everything and can change nothing.
	b.do("sign out", chromedp.Click("#sign-out"))
	b.wait("the login form", `document.querySelector("#login #token") !== null && document.querySelector("#top").hidden`, 5*time.Second)
	b.do("sign in as a viewer", chromedp.SendKeys("#token", viewer), chromedp.Click(`#login button[type=submit]`))
	b.wait("the runs page", `document.querySelectorAll("#runs .pill").length === 2`, 5*time.Second)
	if who := b.text("#whoami"); who != "dashboard-viewer · viewer" {
		t.Errorf("the top bar says %q", who)
	}
	b.do("open the first run", chromedp.Navigate(url+"/#/runs/"+runID))
	b.wait("the run page", `document.querySelector("#run-status").textContent === "aborted"`, 5*time.Second)
	var viewerSees struct{ HaltAll, HaltRun, FilesShown bool }
	b.eval(`({HaltAll: !document.querySelector("#halt-all").hidden, HaltRun: !document.querySelector("#halt-run").hidden,
  FilesShown: !document.querySelector("#run-files").hidden})`, &viewerSees)
	if viewerSees.HaltAll || viewerSees.HaltRun || !viewerSees.FilesShown {
		t.Errorf("a viewer sees %+v, want no halt buttons and the report and journal", viewerSees)
	}
	b.do("open experiments", chromedp.Click(`#nav a[data-page=experiments]`))
	b.wait("the experiments", `document.querySelector("#experiments") !== null`, 5*time.Second)
	if n := b.count("#new-experiment"); n != 0 {
		t.Error("a viewer is offered New experiment")
	}
	b.shot("12-viewer")

	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// dashDocument is the experiment the test types; $SVC and $PID are
// replaced.
const dashDocument = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: dashboard-pause
spec:
  hypothesis:
    every: 250ms
    recoverWithin: 5s
    checks:
      - name: service answers
        http: {url: "$SVC/", timeout: 1s}
        expect: {status: 200, latency: "< 300ms"}
  method:
    - name: freeze the sleeper
      fault: process.pause
      target:
        process: {pid: $PID}
      duration: 60s
`

// dashPosition is the line and column (from 1) of the first s in doc.
func dashPosition(doc, s string) (line, col int) {
	i := strings.Index(doc, s)
	line = strings.Count(doc[:i], "\n") + 1
	return line, i - strings.LastIndex(doc[:i], "\n")
}

func dashJS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func assertSleeperRuns(t *testing.T, pid int) {
	t.Helper()
	if s := state(t, pid); s == 'T' || s == 't' {
		t.Errorf("the page shows every fault recovered but the sleeper's state is %c (stopped)", s)
	}
}

// dashChromium finds Debian's chromium: skipped without it on a
// developer's machine, a failure in CI, whose test command installs it.
func dashChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: scripts/test.sh installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium): skipping the dashboard's browser test")
	return ""
}

// dashServer starts `faultline server` on a free loopback port with a
// fresh state directory and the admin token, and returns its URL.
func dashServer(t *testing.T, admin string) string {
	t.Helper()
	cmd := exec.Command(bin, "server", "--addr", "127.0.0.1:0", "--state-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "FAULTLINE_ADMIN_TOKEN="+admin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &dashLog{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dashStopAtCleanup(t, "server", cmd, logs)
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Scan()
		first <- sc.Text()
	}()
	select {
	case u := <-first:
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Fatalf("the server's first line is %q:\n%s", u, logs)
		}
		return u
	case <-time.After(20 * time.Second):
		t.Fatalf("the server printed no URL in 20s:\n%s", logs)
		return ""
	}
}

// dashAgent starts `faultline agent` with the token the page made.
func dashAgent(t *testing.T, url, token string) {
	t.Helper()
	cmd := exec.Command(bin, "agent", "--server", url, "--name", "dash-agent", "--labels", "role=dashboard-test", "--state-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "FAULTLINE_AGENT_TOKEN="+token)
	logs := &dashLog{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dashStopAtCleanup(t, "agent", cmd, logs)
}

// dashStopAtCleanup ends a process with SIGTERM (it recovers what it
// holds), killing it after 20 s, and shows its log when the test failed.
func dashStopAtCleanup(t *testing.T, name string, cmd *exec.Cmd, logs *dashLog) {
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, logs)
		}
	})
}

type dashLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *dashLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *dashLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// dashBrowser is a headless Chromium with a fresh profile and a laptop's
// screen, and where its screenshots go.
type dashBrowser struct {
	t   *testing.T
	ctx context.Context
	dir string

	mu       sync.Mutex
	problems []string
}

func newDashBrowser(t *testing.T, chromium string, deadline time.Time) *dashBrowser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // as root, Chromium refuses to start with its sandbox
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 768), // a common laptop screen: the page gets about 1366x625
	}
	ctx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(ctx)
	ctx, cancelDeadline := context.WithDeadline(ctx, deadline)
	t.Cleanup(func() {
		cancelDeadline()
		cancelBrowser()
		cancelAlloc()
	})
	b := &dashBrowser{t: t, ctx: ctx, dir: os.Getenv("FAULTLINE_TEST_ARTIFACTS")}
	if b.dir == "" {
		b.dir = t.TempDir()
	} else if err := os.MkdirAll(b.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// What the page reports: uncaught exceptions and errors.
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *dashBrowser) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

func (b *dashBrowser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

// wait polls a JavaScript condition until it holds.
func (b *dashBrowser) wait(what, cond string, d time.Duration) {
	b.t.Helper()
	guarded := "(() => { try { return " + cond + "; } catch { return false; } })()" // a page still rendering is not an error
	_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](guarded, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		b.fail("waiting for "+what, err)
	}
}

func (b *dashBrowser) fail(what string, err error) {
	b.t.Helper()
	b.shot("failed")
	if errs := b.errors(); len(errs) > 0 {
		b.t.Logf("the page reported:\n%s", strings.Join(errs, "\n"))
	}
	b.t.Fatalf("%s: %v", what, err)
}

func (b *dashBrowser) eval(expr string, out any) {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[json.RawMessage](expr))
	if err != nil {
		b.fail("evaluate "+expr, err)
	}
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			b.t.Fatalf("evaluate %s: %s: %v", expr, v, err)
		}
	}
}

// createToken makes a token in Settings and returns the secret shown.
func (b *dashBrowser) createToken(name, role string) string {
	b.t.Helper()
	b.do("create token "+name, chromedp.SendKeys("#tok-name", name), chromedp.SetValue("#tok-role", role), chromedp.Click(`#token-form button[type=submit]`))
	b.wait("token "+name+" listed", fmt.Sprintf(`document.querySelector('#tokens tr[data-token=%s]') !== null && document.querySelector("#new-token").textContent.includes(%s)`, dashJS(name), dashJS(name)), 5*time.Second)
	return b.text("#new-secret")
}

// clear empties a text field as a person would, with an input event.
func (b *dashBrowser) clear(sel string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`(() => { const f = document.querySelector(%s); f.value = ""; f.dispatchEvent(new Event("input")); })()`, dashJS(sel)), nil)
}

func (b *dashBrowser) text(sel string) string {
	b.t.Helper()
	var s string
	b.eval(fmt.Sprintf(`(document.querySelector(%s) || {}).textContent || ""`, dashJS(sel)), &s)
	return strings.TrimSpace(s)
}

func (b *dashBrowser) texts(sel string) []string {
	b.t.Helper()
	var s []string
	b.eval(fmt.Sprintf(`[...document.querySelectorAll(%s)].map(e => e.textContent)`, dashJS(sel)), &s)
	return s
}

func (b *dashBrowser) count(sel string) int {
	b.t.Helper()
	var n int
	b.eval(fmt.Sprintf(`document.querySelectorAll(%s).length`, dashJS(sel)), &n)
	return n
}

// startRun starts the saved experiment on the test's agent from the
// editor's run panel, and returns the run's id from the run page.
func (b *dashBrowser) startRun() string {
	b.t.Helper()
	b.do("select agents", chromedp.Click("#run-on-agents"))
	b.clear("#run-labels")
	b.do("type the agent's label", chromedp.SendKeys("#run-labels", "role=dashboard-test"))
	b.wait("the selector matching the agent", `document.querySelector("#run-match").textContent.startsWith("Matches 1 of 1")`, 5*time.Second)
	b.do("start the run", chromedp.Click("#start-run"))
	b.wait("the run page", `location.hash.startsWith("#/runs/") && document.querySelector("#halt-run") !== null`, 5*time.Second)
	var hash string
	b.eval(`location.hash`, &hash)
	id := strings.TrimPrefix(hash, "#/runs/")
	if !regexp.MustCompile(`^[0-9T]+-[0-9a-f]+$`).MatchString(id) {
		b.t.Fatalf("the run page is %q", hash)
	}
	return id
}

// dashPerf is what the browser measured of the last page load.
type dashPerf struct {
	Requests         int
	Transfer         int
	Decoded          int
	FirstPaint       float64
	FCP              float64
	DOMContentLoaded float64
	Load             float64
}

func (b *dashBrowser) perf() dashPerf {
	b.t.Helper()
	var p dashPerf
	b.eval(`(() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const res = performance.getEntriesByType("resource");
  const paint = Object.fromEntries(performance.getEntriesByType("paint").map(p => [p.name, p.startTime]));
  return {Requests: 1 + res.length,
    Transfer: nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0),
    Decoded: nav.decodedBodySize + res.reduce((a, r) => a + r.decodedBodySize, 0),
    FirstPaint: paint["first-paint"] || 0, FCP: paint["first-contentful-paint"] || 0,
    DOMContentLoaded: nav.domContentLoadedEventEnd, Load: nav.loadEventEnd};
})()`, &p)
	return p
}

// dashLayout is how the run page sits on the screen.
type dashLayout struct {
	Overflow     float64 // px wider than the window
	HaltOnScreen bool    // the halt button is wholly inside the first screen
	HaltColor    string
	ChartTop     float64
	ChartWidth   float64
	Width        float64 // the window's inner size
	Height       float64
}

func (b *dashBrowser) layout() dashLayout {
	b.t.Helper()
	var l dashLayout
	b.eval(`(() => {
  window.scrollTo(0, 0);
  const halt = document.querySelector("#halt-run").getBoundingClientRect();
  const chart = document.querySelector("#charts svg.chart").getBoundingClientRect();
  return {Overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    HaltOnScreen: halt.top >= 0 && halt.bottom <= innerHeight && halt.left >= 0 && halt.right <= innerWidth && halt.width > 0,
    HaltColor: getComputedStyle(document.querySelector("#halt-run")).backgroundColor,
    ChartTop: chart.top, ChartWidth: chart.width, Width: innerWidth, Height: innerHeight};
})()`, &l)
	return l
}

// shot saves what the screen shows.
func (b *dashBrowser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.dir, "dashboard-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	b.t.Logf("screenshot: %s", path)
}
