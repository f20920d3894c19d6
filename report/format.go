package report

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// none stands for a value that does not exist (nothing detected, nothing
// recovered, no latency measured).
const none = "—"

// num writes v with at most three decimals and no trailing zeros, so the
// same value always reads the same.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return none
	}
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// at writes an offset from the start of the run in seconds, 3 decimals.
func at(v float64) string {
	s := strconv.FormatFloat(v, 'f', 3, 64)
	if s == "-0.000" {
		return "0.000"
	}
	return s
}

// seconds writes a span of time in seconds, or none when it is nil.
func seconds(v *float64) string {
	if v == nil {
		return none
	}
	return at(*v) + " s"
}

// displayUnit is the unit a series is shown in: durations measured in
// seconds read better in milliseconds.
func displayUnit(unit string) string {
	if unit == "s" {
		return "ms"
	}
	return unit
}

// display converts a value from its series' unit to its display unit.
func display(v float64, unit string) float64 {
	if unit == "s" {
		return v * 1000
	}
	return v
}

// withUnit writes a value already in its display unit.
func withUnit(v float64, unit string) string {
	if unit == "" {
		return num(v)
	}
	return num(v) + " " + unit
}

// value writes a measured value in its display unit.
func value(v float64, unit string) string {
	return withUnit(display(v, unit), displayUnit(unit))
}

// latency writes a latency measured in seconds, or none when it is nil.
func latency(v *float64) string {
	if v == nil {
		return none
	}
	return value(*v, "s")
}

// share writes a ratio as a percentage.
func share(v float64) string {
	return num(v*100) + "%"
}

// timestamp writes a wall-clock time in UTC, or none when it is unset.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// scalar writes a value decoded from JSON as it was written in the
// document: 200, "< 300ms", true, [200, 204].
func scalar(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = scalar(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// fields writes a JSON object as sorted key=value pairs, strings quoted.
func fields(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := scalar(m[k])
		if _, isString := m[k].(string); isString {
			v = strconv.Quote(v)
		}
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, " ")
}

// oneLine folds line breaks into spaces so a value cannot break the
// layout of a table row or a heading.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// mdEscaper backslash-escapes every character Markdown (CommonMark and
// GitHub tables) would read as markup, including '<' so that no raw HTML
// gets through.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`,
	"<", `\<`, ">", `\>`, "|", `\|`, "~", `\~`, "&", `\&`,
)

// md makes text safe to place anywhere in a Markdown line or table cell.
func md(s string) string {
	return mdEscaper.Replace(oneLine(s))
}

// mdCode makes s a Markdown code span, whose content is never read as
// markup. Code spans are not used in table cells, where '|' would still
// split the cell.
func mdCode(s string) string {
	s = oneLine(s)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || s == "" {
		s = " " + s + " "
	}
	return fence + s + fence
}
