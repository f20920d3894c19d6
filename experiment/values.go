package experiment

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as Go writes it ("500ms", "1m30s").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// DecodeNode implements NodeDecoder.
func (d *Duration) DecodeNode(dc *Decoder, n *yaml.Node, path string) {
	s, ok := dc.scalar(n, path, "a duration such as 5s")
	if !ok {
		return
	}
	v, err := ParseDuration(s)
	if err != nil {
		dc.Errorf(n, path, "%v", err)
		return
	}
	*d = Duration(v)
}

// ParseDuration parses a non-negative duration with a unit.
func ParseDuration(s string) (time.Duration, error) {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, fmt.Errorf("duration %q has no unit: write %ss or %sms", s, s, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: want a number with a unit such as 500ms, 5s or 1m30s", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return v, nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads the string form written by MarshalJSON.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// Size is a number of bytes written with an optional unit: 512, 64KiB,
// 100MB, 2GiB. Decimal (kB, MB, GB) and binary (KiB, MiB, GiB) units are
// both accepted; K, M, G alone mean binary.
type Size int64

var sizeRE = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$`)

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// ParseSize parses a size such as "100MiB".
func ParseSize(s string) (Size, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("bad size %q: want a number of bytes with an optional unit such as 64KiB, 100MB or 2GiB", s)
	}
	mult, ok := sizeUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("bad size %q: unknown unit %q (use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)", s, m[2])
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q: %w", s, err)
	}
	return Size(f * mult), nil
}

// DecodeNode implements NodeDecoder.
func (z *Size) DecodeNode(dc *Decoder, n *yaml.Node, path string) {
	s, ok := dc.scalar(n, path, "a size such as 100MiB")
	if !ok {
		return
	}
	v, err := ParseSize(s)
	if err != nil {
		dc.Errorf(n, path, "%v", err)
		return
	}
	*z = v
}

// UnmarshalJSON reads a number of bytes or the string form ("64MiB").
func (z *Size) UnmarshalJSON(b []byte) error {
	var n int64
	if err := json.Unmarshal(b, &n); err == nil {
		*z = Size(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("size: want a number of bytes or a string such as \"64MiB\"")
	}
	v, err := ParseSize(s)
	if err != nil {
		return err
	}
	*z = v
	return nil
}

func (z Size) String() string {
	const unit = 1024
	if z < unit {
		return fmt.Sprintf("%dB", int64(z))
	}
	div, exp := int64(unit), 0
	for n := int64(z) / unit; n >= unit && exp < 3; n /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(z)/float64(div), 'f', -1, 64) + []string{"KiB", "MiB", "GiB", "TiB"}[exp]
}

// Percent is a share written as "30%" or as a plain number of percent (30).
type Percent float64

// ParsePercent parses "30%" or "30".
func ParsePercent(s string) (Percent, error) {
	f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("bad percentage %q: want a number such as 30%%", s)
	}
	if f < 0 || f > 100 {
		return 0, fmt.Errorf("percentage %q is outside 0%%..100%%", s)
	}
	return Percent(f), nil
}

// UnmarshalJSON reads a number of percent or the string form ("30%").
func (p *Percent) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err == nil {
		v, err := ParsePercent(strconv.FormatFloat(f, 'g', -1, 64))
		*p = v
		return err
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("percentage: want a number or a string such as \"30%%\"")
	}
	v, err := ParsePercent(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// DecodeNode implements NodeDecoder.
func (p *Percent) DecodeNode(dc *Decoder, n *yaml.Node, path string) {
	s, ok := dc.scalar(n, path, "a percentage such as 30%")
	if !ok {
		return
	}
	v, err := ParsePercent(s)
	if err != nil {
		dc.Errorf(n, path, "%v", err)
		return
	}
	*p = v
}

// Regexp is a regular expression compiled when decoded.
type Regexp struct{ *regexp.Regexp }

// DecodeNode implements NodeDecoder.
func (r *Regexp) DecodeNode(dc *Decoder, n *yaml.Node, path string) {
	s, ok := dc.scalar(n, path, "a regular expression")
	if !ok {
		return
	}
	re, err := regexp.Compile(s)
	if err != nil {
		dc.Errorf(n, path, "bad regular expression: %v", err)
		return
	}
	r.Regexp = re
}

// MarshalJSON writes the expression's source.
func (r Regexp) MarshalJSON() ([]byte, error) {
	if r.Regexp == nil {
		return []byte(`""`), nil
	}
	return json.Marshal(r.String())
}

// UnmarshalJSON compiles the expression's source.
func (r *Regexp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("regexp: %w", err)
	}
	if s == "" {
		r.Regexp = nil
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return fmt.Errorf("regexp: %w", err)
	}
	r.Regexp = re
	return nil
}
