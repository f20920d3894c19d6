package experiment_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiment"
)

// shopSettings stand for a probe's settings.
type shopSettings struct {
	Rate  float64 `yaml:"rate"`
	Items []struct {
		URL    string `yaml:"url" required:"true"`
		Weight int    `yaml:"weight"`
	} `yaml:"items"`
}

func (s *shopSettings) Validate() error {
	var errs []error
	if s.Rate < 0 {
		errs = append(errs, experiment.FieldErrorf("rate", "must not be negative"))
	}
	for i, it := range s.Items {
		if it.Weight > 10 {
			errs = append(errs, experiment.FieldErrorf(fmt.Sprintf("items[%d].weight", i), "at most 10"))
		}
	}
	if len(s.Items) == 0 {
		errs = append(errs, errors.New("no items"))
	}
	return errors.Join(errs...)
}

func TestParseSettings(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string // the errors, in order; none: valid
	}{
		{"valid YAML", "rate: 5\nitems:\n  - url: /a\n    weight: 2\n", nil},
		{"valid JSON", `{"rate": 5, "items": [{"url": "/a"}]}`, nil},
		{"every decoding problem at once", "rate: fast\nitems:\n  - weight: 2\n  - url: /b\n    wieght: 1\nextra: 1\n", []string{
			`s.yaml:1:7: rate: want a number, got "fast"`,
			`s.yaml:3:5: items[0].url: required field is missing`,
			`s.yaml:5:5: items[1].wieght: unknown field (did you mean "weight"?)`,
			`s.yaml:6:1: extra: unknown field (known: rate, items)`,
		}},
		{"Validate's problems at their keys, in lists too", "rate: -1\nitems:\n  - url: /a\n  - url: /b\n    weight: 20\n", []string{
			`s.yaml:1:7: rate: must not be negative`,
			`s.yaml:5:13: items[1].weight: at most 10`,
		}},
		{"a problem naming no field at the document", "rate: 1\n", []string{`s.yaml:1:1: no items`}},
		{"syntax", "rate: [1\n", []string{`s.yaml:`}},
		{"empty", "", []string{`s.yaml: the document is empty`}},
		{"two documents", "rate: 1\n---\nrate: 2\n", []string{`s.yaml:2:1: more than one document in the file; put one document per file`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s shopSettings
			err := experiment.ParseSettings([]byte(tc.doc), "s.yaml", &s)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var errs experiment.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not experiment.Errors: %v", err, err)
			}
			if len(errs) != len(tc.want) {
				t.Fatalf("%d errors, want %d:\n%v", len(errs), len(tc.want), err)
			}
			for i, e := range errs {
				if !strings.HasPrefix(e.Error(), tc.want[i]) {
					t.Errorf("error %d: %q, want %q", i, e, tc.want[i])
				}
			}
		})
	}
}

func TestLoadSettingsNamesAMissingFile(t *testing.T) {
	var s shopSettings
	err := experiment.LoadSettings("testdata/no-such-settings.yaml", &s)
	if err == nil || !strings.Contains(err.Error(), "read settings: open testdata/no-such-settings.yaml") {
		t.Errorf("error %v", err)
	}
}
