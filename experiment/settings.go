package experiment

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// DecodeSettings decodes n into settings (a pointer to a settings struct,
// its defaults set) and, when that found no problem and settings is a
// Validator, places each problem Validate reports at its field inside n;
// problems naming no field go to key (n's key, or n itself when nil).
func (d *Decoder) DecodeSettings(n, key *yaml.Node, path string, settings any) {
	before := len(d.errs)
	d.decode(n, path, reflectOf(settings))
	if v, ok := settings.(Validator); ok && len(d.errs) == before {
		reportFieldErrors(d, v.Validate(), n, n0(key, n), path, path)
	}
}

// LoadSettings reads a file holding one YAML or JSON document of settings
// into settings, as a check's probe settings are read in an experiment
// (the load probe's make a scenario for `faultline load`). Every problem is
// reported at once as an Errors value, each at file:line:column with its
// field.
func LoadSettings(file string, settings any) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	return ParseSettings(data, file, settings)
}

// ParseSettings is LoadSettings for a document held in memory; file names
// it in errors.
func ParseSettings(data []byte, file string, settings any) error {
	root, err := parseDocument(data, file, "document")
	if err != nil {
		return err
	}
	d := &Decoder{File: file}
	d.DecodeSettings(docRoot(root), nil, "", settings)
	return d.Err()
}
