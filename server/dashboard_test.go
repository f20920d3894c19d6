package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// get sends a GET without the client's transparent gzip, so the test sees
// the encoding the server chose.
func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// The dashboard is served at / with its assets under names holding their
// hash, cached for good; the page is revalidated; both carry a CSP that
// allows nothing but the server itself.
func TestDashboardIsServed(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp, page := get(t, e.url+"/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("page Cache-Control %q, want no-cache", cc)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "ETag"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("page without %s", h)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	refs := regexp.MustCompile(`"/ui/(app\.[0-9a-f]{10}\.(?:js|css))"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) != 2 {
		t.Fatalf("the page refers to %d hashed assets, want app.js and app.css:\n%s", len(refs), page)
	}
	for _, ref := range refs {
		url := e.url + "/ui/" + ref[1]
		plain, body := get(t, url)
		if plain.StatusCode != 200 || plain.Header.Get("Content-Encoding") != "" || len(body) == 0 {
			t.Fatalf("GET %s: %d, encoding %q, %d bytes", ref[1], plain.StatusCode, plain.Header.Get("Content-Encoding"), len(body))
		}
		if cc := plain.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s Cache-Control %q, want immutable", ref[1], cc)
		}
		zipped, zbody := get(t, url, "Accept-Encoding", "br, gzip")
		if zipped.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s not gzipped for a browser that accepts it", ref[1])
		}
		zr, err := gzip.NewReader(bytes.NewReader(zbody))
		if err != nil {
			t.Fatal(err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(unzipped, body) {
			t.Fatalf("%s: gzipped body differs from the plain one (%v)", ref[1], err)
		}
		if none, _ := get(t, url, "Accept-Encoding", "gzip;q=0"); none.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s gzipped although refused with q=0", ref[1])
		}
		if again, b := get(t, url, "If-None-Match", plain.Header.Get("ETag")); again.StatusCode != http.StatusNotModified || len(b) != 0 {
			t.Errorf("%s revalidated: %d with %d bytes, want 304 and none", ref[1], again.StatusCode, len(b))
		}
	}
	// The plain name works too (a page cached across an upgrade), but is
	// revalidated.
	if resp, _ := get(t, e.url+"/ui/app.js"); resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-cache" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("GET /ui/app.js: %d %q %q", resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Type"))
	}
}

// What is not the dashboard is answered as the API answers: JSON errors,
// path tricks refused, and the API still behind its tokens.
func TestDashboardLeavesTheRestAlone(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/ui/nothing.js", http.StatusNotFound},
		{"GET", "/ui/index.html", http.StatusNotFound}, // the page is at /, once
		{"GET", "/ui/../api/v1/tokens", http.StatusBadRequest},
		{"GET", "/ui/%2e%2e/api/v1/tokens", http.StatusBadRequest},
		{"GET", "/ui/", http.StatusBadRequest},
		{"GET", "/index.html", http.StatusNotFound},
		{"GET", "/runs", http.StatusNotFound},
		{"POST", "/", http.StatusMethodNotAllowed},
		{"GET", "/api/v1/experiments", http.StatusUnauthorized},
	} {
		status, body := e.request(tt.method, tt.path, "", nil)
		if status != tt.status {
			t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, status, body, tt.status)
			continue
		}
		var ae apiError
		if err := json.Unmarshal(body, &ae); err != nil || ae.Message == "" {
			t.Errorf("%s %s: not a JSON error: %s", tt.method, tt.path, body)
		}
	}
}

// The script never turns text into markup: everything the API says is
// set with textContent, so a hostile experiment name or event message
// stays text.
func TestDashboardScriptWritesNoMarkup(t *testing.T) {
	js, err := uiFiles.ReadFile("ui/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if bytes.Contains(js, []byte(bad)) {
			t.Errorf("app.js uses %s", bad)
		}
	}
	page, _ := uiFiles.ReadFile("ui/index.html")
	if regexp.MustCompile(`<script>|<style>|\son[a-z]+=`).Match(page) {
		t.Error("index.html has inline script, style or handlers, which the CSP refuses")
	}
}

// The assets are small: the whole dashboard, gzipped, stays under a
// budget a slow link loads at once.
func TestDashboardWeight(t *testing.T) {
	const budget = 40 << 10
	total := len(dashboard.index.gz)
	for name, a := range dashboard.assets {
		if a.immutable {
			total += len(a.gz)
			t.Logf("%s: %d bytes, %d gzipped", name, len(a.body), len(a.gz))
		}
	}
	t.Logf("page and assets: %d bytes gzipped", total)
	if total > budget {
		t.Errorf("the dashboard is %d bytes gzipped; the budget is %d", total, budget)
	}
}

func TestBuildDashboardRewritesReferences(t *testing.T) {
	fsys := fstest.MapFS{
		"ui/index.html": {Data: []byte(`<link href="/ui/a.css"><script src="/ui/b.js"></script><p>/ui/a.css</p>`)},
		"ui/a.css":      {Data: []byte("p{}")},
		"ui/b.js":       {Data: []byte("1")},
	}
	site, err := buildDashboard(fsys)
	if err != nil {
		t.Fatal(err)
	}
	css, js := hashedName("a.css", []byte("p{}")), hashedName("b.js", []byte("1"))
	want := `<link href="/ui/` + css + `"><script src="/ui/` + js + `"></script><p>/ui/a.css</p>`
	if got := string(site.index.body); got != want {
		t.Errorf("index:\n%s\nwant\n%s", got, want)
	}
	for _, name := range []string{"a.css", "b.js", css, js} {
		if site.assets[name] == nil {
			t.Errorf("no asset %s", name)
		}
	}
	if !site.assets[css].immutable || site.assets["a.css"].immutable {
		t.Error("only hashed names are immutable")
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "br, gzip": true, "gzip;q=0": false, "GZIP; q=0.5": true, "deflate": false, "gzip; q=0.000": false,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v", h, got)
		}
	}
}
