// Package report renders a run's journal into views for humans: Markdown
// for pull requests and chat, and a single self-contained HTML file (inline
// CSS, inline SVG timeline, no JavaScript) for reading and printing.
//
// A report is made from the journal alone. It shows, in order: the verdict,
// the hypothesis and method as written, a timeline per check with the fault
// windows, the metrics (the engine's time to detect and to recover, and
// what the report works out from the samples: time until stable, the share
// of failed requests of the load checks, the worst impact on each check),
// the targets hit, every event, and a postmortem skeleton pre-filled from
// the metrics. A comparison puts two runs of one experiment side by side
// (before and after a fix): both verdicts, the metrics with their change,
// and each check's charts on the same scales. Every number is written the
// same way on every machine, so reports can be compared and kept as golden
// files.
package report

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"

	"github.com/faultline-dev/faultline/journal"
)

//go:embed templates
var templates embed.FS

var (
	markdownTemplate = texttemplate.Must(texttemplate.New("report.md.tmpl").
				Funcs(texttemplate.FuncMap{"md": md, "code": mdCode}).
				ParseFS(templates, "templates/report.md.tmpl"))
	htmlTemplate = htmltemplate.Must(htmltemplate.New("report.html.tmpl").
			ParseFS(templates, "templates/report.html.tmpl", "templates/chart.html.tmpl", "templates/style.html.tmpl"))
	compareMarkdownTemplate = texttemplate.Must(texttemplate.New("compare.md.tmpl").
				Funcs(texttemplate.FuncMap{"md": md}).
				ParseFS(templates, "templates/compare.md.tmpl"))
	compareHTMLTemplate = htmltemplate.Must(htmltemplate.New("compare.html.tmpl").
				ParseFS(templates, "templates/compare.html.tmpl", "templates/chart.html.tmpl", "templates/style.html.tmpl"))
)

var errNoJournal = errors.New("report: no journal")

// Markdown writes the report of j as Markdown.
func Markdown(w io.Writer, j *journal.Journal) error {
	if j == nil {
		return errNoJournal
	}
	if err := markdownTemplate.Execute(w, newView(j)); err != nil {
		return fmt.Errorf("report: render markdown: %w", err)
	}
	return nil
}

// HTML writes the report of j as one self-contained HTML page.
func HTML(w io.Writer, j *journal.Journal) error {
	if j == nil {
		return errNoJournal
	}
	v := newView(j)
	v.Charts = charts(j)
	if err := htmlTemplate.Execute(w, v); err != nil {
		return fmt.Errorf("report: render html: %w", err)
	}
	return nil
}

// renderers maps the file extensions Write knows to their renderer.
var renderers = map[string]func(io.Writer, *journal.Journal) error{
	".md":   Markdown,
	".html": HTML,
	".htm":  HTML,
}

// Write renders j into the file at path, choosing the format by the
// extension: .md for Markdown, .html or .htm for HTML. The file appears
// whole or not at all.
func Write(path string, j *journal.Journal) error {
	ext := strings.ToLower(filepath.Ext(path))
	render, ok := renderers[ext]
	if !ok {
		return fmt.Errorf("report: cannot tell the format of %q: name it .md for Markdown, or .html or .htm for HTML", path)
	}
	var b bytes.Buffer
	if err := render(&b, j); err != nil {
		return err
	}
	return writeFile(path, b.Bytes())
}

// writeFile writes data next to path, then renames it into place.
func writeFile(path string, data []byte) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("report: create directory: %w", err)
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	return nil
}
