package expect_test

import (
	"testing"
	"time"

	"github.com/faultline-dev/faultline/expect"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		kind  expect.Kind
		tol   any
		value any
		want  bool
	}{
		{expect.Number, 200.0, 200.0, true},
		{expect.Number, 200.0, 201.0, false},
		{expect.Number, "2xx", 204.0, true},
		{expect.Number, "2xx", 301.0, false},
		{expect.Number, "200-299", 299.0, true},
		{expect.Number, "200-299", 300.0, false},
		{expect.Number, "1..3", 2.0, true},
		{expect.Number, []any{200.0, 204.0}, 204.0, true},
		{expect.Number, []any{200.0, 204.0}, 202.0, false},
		{expect.Number, ">= 0.99", 0.995, true},
		{expect.Number, ">= 99%", 0.98, false},
		{expect.Number, "!= 0", 1.0, true},
		{expect.Number, "> 0", 0.0, false},
		{expect.Number, "< -1", -2.0, true},
		{expect.Duration, "< 300ms", 299 * time.Millisecond, true},
		{expect.Duration, "< 300ms", 300 * time.Millisecond, false},
		{expect.Duration, "<= 1s", time.Second, true},
		{expect.Duration, "100ms-200ms", 150 * time.Millisecond, true},
		{expect.Text, "^ok", "ok fine", true},
		{expect.Text, "^ok", "not ok", false},
		{expect.Text, "ok", 1.0, false},
		{expect.Any, "ok", "ok", true},
		{expect.Any, 3.0, 3.0, true},
		{expect.Any, "> 2", 3.0, true},
		{expect.Any, true, true, true},
		{expect.Any, "ok", "nope", false},
		{expect.Number, "200", "not a number", false},
		{expect.Number, "< 1", []float64{0.1, 0.5}, true},
		{expect.Number, "< 1", []float64{0.1, 1.5}, false},
		{expect.Number, "< 1", []float64{}, false},
		{expect.Number, []any{1.0, 2.0}, []float64{1, 2, 1}, true},
	} {
		m, err := expect.Compile(tc.kind, tc.tol)
		if err != nil {
			t.Errorf("Compile(%v, %v): %v", tc.kind, tc.tol, err)
			continue
		}
		if got := m.Match(tc.value); got != tc.want {
			t.Errorf("%v %v on %v = %v, want %v", tc.kind, tc.tol, tc.value, got, tc.want)
		}
	}
}

func TestCompileRejects(t *testing.T) {
	for _, tc := range []struct {
		kind expect.Kind
		tol  any
	}{
		{expect.Duration, "< fast"},
		{expect.Duration, "< 300"},
		{expect.Number, "lots"},
		{expect.Number, "300-200"},
		{expect.Text, "("},
		{expect.Number, []any{}},
	} {
		if _, err := expect.Compile(tc.kind, tc.tol); err == nil {
			t.Errorf("Compile(%v, %v) accepted", tc.kind, tc.tol)
		}
	}
}
