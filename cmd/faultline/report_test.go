package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reportFixture is a journal from the report package's test data.
func reportFixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "report", "testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReportCommand(t *testing.T) {
	off, on := reportFixture(t, "resilience-off"), reportFixture(t, "resilience-on")
	other := reportFixture(t, "deviated")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // what stdout must contain
		stderr string // what stderr must contain
		file   string // the report file written, if any
		inFile string // what that file must contain
	}{
		{
			name:   "one journal as Markdown on stdout",
			args:   []string{other},
			stdout: "🔴 **DEVIATED** — checkout-under-pause",
		},
		{
			name:   "one journal as HTML",
			args:   []string{other, "-o", "report.html"},
			stderr: "report: report.html",
			file:   "report.html", inFile: `<div class="verdict deviated" id="verdict">`,
		},
		{
			name:   "a comparison as Markdown on stdout",
			args:   []string{"--compare", off, on},
			stdout: "- The verdict changed from DEVIATED to HELD.",
		},
		{
			name:   "a comparison as HTML",
			args:   []string{"--compare", off, on, "-o", "compare.html"},
			stderr: "report: compare.html",
			file:   "compare.html", inFile: `<div class="verdict held" id="verdict-B">`,
		},
		{
			name: "a comparison as a Markdown file",
			args: []string{"--compare", off, on, "-o", "compare.md"},
			file: "compare.md", inFile: "| Time to recover | 2.532 s | 0.535 s | 🟢 −1.997 s, better |",
		},
		{
			name:   "different experiments are refused",
			args:   []string{"--compare", off, other, "-o", "refused.html"},
			code:   2,
			stderr: `A ran "carts-latency" and B ran "checkout-under-pause": the journals are of different experiments (compare two runs of one experiment, or pass --force)`,
		},
		{
			name:   "different experiments with --force",
			args:   []string{"--compare", "--force", off, other, "-o", "forced.html"},
			stderr: `warning: report: A ran "carts-latency" and B ran "checkout-under-pause"`,
			file:   "forced.html", inFile: "A and B are runs of different experiments",
		},
		{
			name:   "--compare needs two journals",
			args:   []string{"--compare", off},
			code:   2,
			stderr: "--compare takes two journals, A (before) and B (after), got 1",
		},
		{
			name:   "a report is of one journal",
			args:   []string{off, on},
			code:   2,
			stderr: "report takes one journal (or two with --compare), got 2",
		},
		{
			name:   "a journal that cannot be read",
			args:   []string{"--compare", off, "missing.json"},
			code:   2,
			stderr: "read journal",
		},
		{
			name:   "an unknown format",
			args:   []string{"--compare", off, on, "-o", "compare.pdf"},
			code:   2,
			stderr: "cannot tell the format",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			r := e.faultline(t, append([]string{"report"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tt.code, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("stdout lacks %q:\n%.800s", tt.stdout, r.stdout)
			}
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, r.stderr)
			}
			files, _ := filepath.Glob(filepath.Join(e.dir, "*.*"))
			var written []string
			for _, f := range files {
				if base := filepath.Base(f); base != "ledger.jsonl" {
					written = append(written, base)
				}
			}
			if tt.file == "" {
				if len(written) > 0 {
					t.Errorf("wrote %v, want nothing", written)
				}
				return
			}
			b, err := os.ReadFile(filepath.Join(e.dir, tt.file))
			if err != nil {
				t.Fatalf("no report: %v (wrote %v)", err, written)
			}
			if !strings.Contains(string(b), tt.inFile) {
				t.Errorf("%s lacks %q", tt.file, tt.inFile)
			}
		})
	}
}
