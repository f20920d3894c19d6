// Package expect judges measurements against tolerances written in an
// experiment's `expect` blocks: `200`, `[200, 204]`, `"2xx"`, `"200-299"`,
// `"< 300ms"`, `">= 0.99"`, and regular expressions for text.
package expect

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of value a measurement has, which decides how a
// tolerance is read.
type Kind int

const (
	// Number is a plain number (status code, count, ratio, exit code).
	Number Kind = iota
	// Duration is a time.Duration; tolerances carry units ("< 300ms").
	Duration
	// Text is a string; a tolerance is a regular expression it must match.
	Text
	// Any is a JSON value; a tolerance is compared by equality, or as a
	// number when both sides are numbers.
	Any
)

func (k Kind) String() string {
	return [...]string{"number", "duration", "text", "value"}[k]
}

// Matcher is one compiled tolerance.
type Matcher struct {
	Source string
	kind   Kind
	conds  []cond // all must hold (a range is two conds)
	anyOf  []Matcher
	re     *regexp.Regexp
	equal  any // for Any: a scalar that must be equal
}

type cond struct {
	op string
	v  float64 // seconds for Duration
}

var opRE = regexp.MustCompile(`^\s*(<=|>=|==|!=|<|>|=)?\s*(.+?)\s*$`)

// Compile reads a tolerance for a measurement of kind k. src is a scalar
// (string, number or bool as written) or a []any of scalars for "any of".
func Compile(k Kind, src any) (Matcher, error) {
	if list, ok := src.([]any); ok {
		if len(list) == 0 {
			return Matcher{}, fmt.Errorf("empty list: give at least one value")
		}
		m := Matcher{Source: fmt.Sprint(src), kind: k}
		for _, x := range list {
			sub, err := Compile(k, x)
			if err != nil {
				return Matcher{}, err
			}
			m.anyOf = append(m.anyOf, sub)
		}
		return m, nil
	}
	s := fmt.Sprint(src)
	m := Matcher{Source: s, kind: k}
	switch k {
	case Text:
		re, err := regexp.Compile(s)
		if err != nil {
			return Matcher{}, fmt.Errorf("bad regular expression %q: %w", s, err)
		}
		m.re = re
		return m, nil
	case Any:
		if _, isStr := src.(string); !isStr {
			m.equal = src
			return m, nil
		}
		if c, err := parseConds(Number, s); err == nil {
			m.conds = c
			return m, nil
		}
		m.equal = s
		return m, nil
	}
	c, err := parseConds(k, s)
	if err != nil {
		return Matcher{}, err
	}
	m.conds = c
	return m, nil
}

func parseConds(k Kind, s string) ([]cond, error) {
	s = strings.TrimSpace(s)
	if k == Number && len(s) == 3 && strings.HasSuffix(strings.ToLower(s), "xx") && s[0] >= '1' && s[0] <= '9' {
		base := float64(s[0]-'0') * 100
		return []cond{{">=", base}, {"<=", base + 99}}, nil
	}
	if lo, hi, ok := strings.Cut(s, ".."); ok {
		return rangeConds(k, s, lo, hi)
	}
	if i := strings.Index(s[min(1, len(s)):], "-"); i >= 0 && !strings.ContainsAny(s[:1], "<>=!") {
		i++
		if a, b := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:]); a != "" && b != "" {
			return rangeConds(k, s, a, b)
		}
	}
	m := opRE.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("bad tolerance %q", s)
	}
	op := m[1]
	if op == "" || op == "=" {
		op = "=="
	}
	v, err := parseValue(k, m[2])
	if err != nil {
		return nil, fmt.Errorf("bad tolerance %q: %w", s, err)
	}
	return []cond{{op, v}}, nil
}

func rangeConds(k Kind, s, lo, hi string) ([]cond, error) {
	a, err := parseValue(k, strings.TrimSpace(lo))
	if err != nil {
		return nil, fmt.Errorf("bad range %q: %w", s, err)
	}
	b, err := parseValue(k, strings.TrimSpace(hi))
	if err != nil {
		return nil, fmt.Errorf("bad range %q: %w", s, err)
	}
	if a > b {
		return nil, fmt.Errorf("bad range %q: the low end is above the high end", s)
	}
	return []cond{{">=", a}, {"<=", b}}, nil
}

func parseValue(k Kind, s string) (float64, error) {
	if k == Duration {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("want a duration with a unit such as 300ms")
		}
		return d.Seconds(), nil
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("want a number")
	}
	if strings.HasSuffix(s, "%") {
		f /= 100
	}
	return f, nil
}

// Match reports whether v satisfies the tolerance. v is a float64 or int
// for Number, a time.Duration for Duration, a string for Text and any
// JSON value for Any. A value of the wrong type never matches.
//
// A []float64 (the samples of a Prometheus vector, say) matches when it is
// not empty and every element matches.
func (m Matcher) Match(v any) bool {
	if list, ok := v.([]float64); ok {
		for _, x := range list {
			if !m.Match(x) {
				return false
			}
		}
		return len(list) > 0
	}
	if len(m.anyOf) > 0 {
		return slices.ContainsFunc(m.anyOf, func(sub Matcher) bool { return sub.Match(v) })
	}
	if m.re != nil {
		s, ok := v.(string)
		return ok && m.re.MatchString(s)
	}
	if m.conds == nil {
		return fmt.Sprint(m.equal) == fmt.Sprint(v)
	}
	f, ok := number(v)
	if !ok {
		return false
	}
	for _, c := range m.conds {
		if !c.holds(f) {
			return false
		}
	}
	return true
}

func number(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case float32:
		return float64(t), true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case time.Duration:
		return t.Seconds(), true
	case string:
		f, err := strconv.ParseFloat(t, 64)
		return f, err == nil
	case bool:
		return 0, false
	}
	return 0, false
}

func (c cond) holds(f float64) bool {
	switch c.op {
	case "<":
		return f < c.v
	case "<=":
		return f <= c.v
	case ">":
		return f > c.v
	case ">=":
		return f >= c.v
	case "!=":
		return f != c.v
	default:
		return f == c.v
	}
}

// Kind returns the kind of value the matcher judges.
func (m Matcher) Kind() Kind { return m.kind }

func (m Matcher) String() string { return m.Source }
