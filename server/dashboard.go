package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// The dashboard is a single page (server/ui: plain HTML, CSS and one
// vanilla JS file, no build step) served by the server itself at / and
// /ui/. It asks for an API token, keeps it in the tab's sessionStorage and
// sends it as a bearer token to the same API everyone else uses: the pages
// are public, the data is not.
//
//go:embed ui
var uiFiles embed.FS

// dashboardCSP allows the page its own scripts, styles and API, and
// nothing else: no inline script, no other origin, no framing.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one embedded file ready to serve: its bytes, gzipped when that
// is smaller, and its ETag.
type asset struct {
	ctype string
	body  []byte
	gz    []byte
	etag  string
	// immutable assets are served under a name holding their hash, so
	// browsers may keep them for good.
	immutable bool
}

func newAsset(name string, body []byte, immutable bool) *asset {
	sum := sha256.Sum256(body)
	a := &asset{ctype: mime.TypeByExtension(path.Ext(name)), body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, immutable: immutable}
	if a.ctype == "" {
		a.ctype = "application/octet-stream"
	}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = zw.Write(body)
	_ = zw.Close()
	if b.Len() < len(body) {
		a.gz = b.Bytes()
	}
	return a
}

// dashboardSite is the page and its assets by the name they are
// requested under (/ui/{name}).
type dashboardSite struct {
	index  *asset
	assets map[string]*asset
}

// dashboard is built once: index.html refers to each asset by a name
// holding its hash (app.js → app.3f9c1a2b7d.js), so a new release is
// never mixed with a cached old one; the plain names stay servable.
var dashboard = func() *dashboardSite {
	site, err := buildDashboard(uiFiles)
	if err != nil {
		panic(fmt.Sprintf("server: dashboard: %v", err))
	}
	return site
}()

func buildDashboard(fsys fs.FS) (*dashboardSite, error) {
	index, err := fs.ReadFile(fsys, "ui/index.html")
	if err != nil {
		return nil, err
	}
	site := &dashboardSite{assets: map[string]*asset{}}
	entries, err := fs.ReadDir(fsys, "ui")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "index.html" {
			continue
		}
		body, err := fs.ReadFile(fsys, "ui/"+name)
		if err != nil {
			return nil, err
		}
		site.assets[name] = newAsset(name, body, false)
		hashed := hashedName(name, body)
		site.assets[hashed] = newAsset(name, body, true)
		index = bytes.ReplaceAll(index, []byte(`"/ui/`+name+`"`), []byte(`"/ui/`+hashed+`"`))
	}
	site.index = newAsset("index.html", index, false)
	return site, nil
}

// hashedName puts the start of the content's hash before the extension.
func hashedName(name string, body []byte) string {
	sum := sha256.Sum256(body)
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext
}

func serveDashboard(w http.ResponseWriter, r *http.Request) {
	dashboard.index.serve(w, r)
}

func serveDashboardAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := dashboard.assets[r.PathValue("file")]
	if !ok {
		writeError(w, errorf(http.StatusNotFound, "no such dashboard file: %q", r.PathValue("file")))
		return
	}
	a.serve(w, r)
}

func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	if a.immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache") // revalidate: a new release shows at once
	}
	if etagMatch(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// etagMatch reports whether an If-None-Match header lists etag.
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// acceptsGzip reads an Accept-Encoding header: gzip listed without q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
