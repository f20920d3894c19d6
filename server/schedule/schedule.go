// Package schedule computes when a scheduled experiment runs next: at the
// times of a cron expression, or in Chaos Monkey mode at random times —
// runs arrive as a Poisson process over the allowed time (inside the
// windows or business hours, outside blackout dates), with a mean time
// between runs, and never more than N in any period.
//
// Next is a pure function of the spec, the time to start from, the times
// of earlier runs and a random source, so it is tested with a seeded one.
package schedule

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/faultline-dev/faultline/experiment"
)

// Spec is how a schedule is timed: exactly one of Cron and Monkey.
type Spec struct {
	// Cron is a standard five-field cron expression ("0 3 * * 1-5"), a
	// descriptor ("@daily", "@every 6h"), in UTC unless prefixed with
	// CRON_TZ=Area/City.
	Cron   string  `json:"cron,omitempty"`
	Monkey *Monkey `json:"monkey,omitempty"`
}

// Monkey is the Chaos Monkey mode: random times inside allowed windows.
type Monkey struct {
	// MeanInterval is the mean time between runs, counted in allowed time
	// only (a week of business hours is 40h).
	MeanInterval experiment.Duration `json:"meanInterval"`
	// Windows are when runs may start; none means at any time.
	Windows []Window `json:"windows,omitempty"`
	// BusinessHours adds the window Monday to Friday, 09:00 to 17:00.
	BusinessHours bool `json:"businessHours,omitempty"`
	// Blackouts are dates (2026-12-24) or inclusive ranges
	// (2026-12-20..2027-01-03) when nothing runs.
	Blackouts []string `json:"blackouts,omitempty"`
	// MaxPerPeriod caps the runs in any Period (0: no cap).
	MaxPerPeriod int `json:"maxPerPeriod,omitempty"`
	// Period is the length of the capped period (default 24h).
	Period experiment.Duration `json:"period,omitempty"`
	// Timezone is an IANA zone for windows and dates (default UTC).
	Timezone string `json:"timezone,omitempty"`
}

// Window is a daily span when runs may start.
type Window struct {
	// Days are mon … sun, or ranges like mon-fri; none means every day.
	Days []string `json:"days,omitempty"`
	// Start and End are HH:MM; End may be 24:00 and is after Start.
	Start string `json:"start"`
	End   string `json:"end"`
}

// Schedule is a checked Spec.
type Schedule interface {
	// Next is the first run time after after, given the times of the
	// runs so far (any order) and a random source.
	Next(after time.Time, history []time.Time, rng *rand.Rand) (time.Time, error)
}

// Compile checks spec and prepares it for Next.
func Compile(spec Spec) (Schedule, error) {
	switch {
	case spec.Cron != "" && spec.Monkey != nil:
		return nil, errors.New("a schedule has either cron or monkey, not both")
	case spec.Cron != "":
		expr := spec.Cron
		if !strings.HasPrefix(expr, "CRON_TZ=") && !strings.HasPrefix(expr, "TZ=") {
			expr = "CRON_TZ=UTC " + expr // not the server's local zone
		}
		c, err := cron.ParseStandard(expr)
		if err != nil {
			return nil, fmt.Errorf("cron %q: %w", spec.Cron, err)
		}
		return cronSchedule{c}, nil
	case spec.Monkey != nil:
		return compileMonkey(spec.Monkey)
	}
	return nil, errors.New("a schedule needs cron (\"0 3 * * 1-5\") or monkey (random times in windows)")
}

type cronSchedule struct{ s cron.Schedule }

func (c cronSchedule) Next(after time.Time, _ []time.Time, _ *rand.Rand) (time.Time, error) {
	t := c.s.Next(after)
	if t.IsZero() {
		return t, errors.New("the cron expression has no next time")
	}
	return t, nil
}

// horizon bounds how far ahead allowed time is looked for.
const horizon = 10 * 366 // days

type monkey struct {
	mean    time.Duration
	loc     *time.Location
	windows []window
	black   []dateRange
	max     int
	period  time.Duration
}

// window is a Window with days as a set and times as offsets into the day.
type window struct {
	days       [7]bool // by time.Weekday
	start, end time.Duration
}

type dateRange struct{ from, to date }

type date struct {
	y int
	m time.Month
	d int
}

func (d date) before(o date) bool {
	return d.y < o.y || (d.y == o.y && (d.m < o.m || (d.m == o.m && d.d < o.d)))
}

func compileMonkey(m *Monkey) (*monkey, error) {
	c := &monkey{mean: m.MeanInterval.D(), loc: time.UTC, max: m.MaxPerPeriod, period: m.Period.D()}
	if c.mean <= 0 {
		return nil, errors.New("monkey.meanInterval must be a positive duration, such as 24h")
	}
	if m.MaxPerPeriod < 0 {
		return nil, errors.New("monkey.maxPerPeriod cannot be negative")
	}
	if c.period == 0 {
		c.period = 24 * time.Hour
	}
	if m.Timezone != "" {
		loc, err := time.LoadLocation(m.Timezone)
		if err != nil {
			return nil, fmt.Errorf("monkey.timezone %q: %w", m.Timezone, err)
		}
		c.loc = loc
	}
	ws := m.Windows
	if m.BusinessHours {
		ws = append(slices.Clone(ws), Window{Days: []string{"mon-fri"}, Start: "09:00", End: "17:00"})
	}
	for i, w := range ws {
		cw, err := compileWindow(w)
		if err != nil {
			return nil, fmt.Errorf("monkey.windows[%d]: %w", i, err)
		}
		c.windows = append(c.windows, cw)
	}
	if len(c.windows) == 0 {
		all := window{start: 0, end: 24 * time.Hour}
		all.days = [7]bool{true, true, true, true, true, true, true}
		c.windows = []window{all}
	}
	for i, b := range m.Blackouts {
		r, err := parseRange(b)
		if err != nil {
			return nil, fmt.Errorf("monkey.blackouts[%d]: %w", i, err)
		}
		c.black = append(c.black, r)
	}
	return c, nil
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func compileWindow(w Window) (window, error) {
	var c window
	if len(w.Days) == 0 {
		c.days = [7]bool{true, true, true, true, true, true, true}
	}
	for _, d := range w.Days {
		from, to, isRange := strings.Cut(strings.ToLower(d), "-")
		a, ok1 := dayNames[from]
		b, ok2 := dayNames[to]
		if !isRange {
			b, ok2 = a, ok1
		}
		if !ok1 || !ok2 {
			return c, fmt.Errorf("day %q: use mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri", d)
		}
		for day := a; ; day = (day + 1) % 7 {
			c.days[day] = true
			if day == b {
				break
			}
		}
	}
	var err error
	if c.start, err = clock(w.Start); err != nil {
		return c, fmt.Errorf("start: %w", err)
	}
	if c.end, err = clock(w.End); err != nil {
		return c, fmt.Errorf("end: %w", err)
	}
	if c.end <= c.start {
		return c, fmt.Errorf("end %s is not after start %s (for a window across midnight, give two windows)", w.End, w.Start)
	}
	return c, nil
}

// clock reads HH:MM (00:00 to 24:00) as an offset into the day.
func clock(s string) (time.Duration, error) {
	var h, m int
	if n, err := fmt.Sscanf(s, "%d:%d", &h, &m); n != 2 || err != nil || len(s) != 5 {
		return 0, fmt.Errorf("%q is not a time of day: write HH:MM, such as 09:30", s)
	}
	if h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not a time of day between 00:00 and 24:00", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

func parseRange(s string) (dateRange, error) {
	from, to, isRange := strings.Cut(s, "..")
	a, err := parseDate(from)
	if err != nil {
		return dateRange{}, err
	}
	b := a
	if isRange {
		if b, err = parseDate(to); err != nil {
			return dateRange{}, err
		}
		if b.before(a) {
			return dateRange{}, fmt.Errorf("%q ends before it starts", s)
		}
	}
	return dateRange{a, b}, nil
}

func parseDate(s string) (date, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return date{}, fmt.Errorf("%q is not a date: write YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD", s)
	}
	return date{t.Year(), t.Month(), t.Day()}, nil
}

func (m *monkey) blackedOut(d date) bool {
	for _, r := range m.black {
		if !d.before(r.from) && !r.to.before(d) {
			return true
		}
	}
	return false
}

// Next draws a gap of allowed time from the exponential distribution with
// the mean interval and walks it forward through the allowed time. When
// that would put more than MaxPerPeriod runs in a period, it starts again
// from when the period has room.
func (m *monkey) Next(after time.Time, history []time.Time, rng *rand.Rand) (time.Time, error) {
	past := slices.Clone(history)
	slices.SortFunc(past, time.Time.Compare)
	from := after
	for range m.max + 2 { // each retry frees at least one run of the cap
		gap := time.Duration(rng.ExpFloat64() * float64(m.mean))
		t, err := m.advance(from, gap)
		if err != nil {
			return time.Time{}, err
		}
		if m.max == 0 {
			return t, nil
		}
		// The runs in (t-period, t]: a new run at t must find at most
		// max-1 of them.
		var in []time.Time
		for _, h := range past {
			if h.After(t.Add(-m.period)) && !h.After(t) {
				in = append(in, h)
			}
		}
		if len(in) < m.max {
			return t, nil
		}
		// Room comes when the oldest run that must go leaves the period.
		from = in[len(in)-m.max].Add(m.period)
	}
	return time.Time{}, errors.New("no run time leaves the cap of runs per period")
}

// advance returns the instant gap of allowed time after from.
func (m *monkey) advance(from time.Time, gap time.Duration) (time.Time, error) {
	from = from.In(m.loc)
	y, mo, d := from.Date()
	for i := range horizon {
		day := time.Date(y, mo, d+i, 0, 0, 0, 0, m.loc)
		dy, dm, dd := day.Date()
		if m.blackedOut(date{dy, dm, dd}) {
			continue
		}
		for _, iv := range m.intervals(day) {
			start := iv[0]
			if start.Before(from) {
				start = from
			}
			avail := iv[1].Sub(start)
			if avail <= 0 {
				continue
			}
			if gap < avail {
				return start.Add(gap).UTC(), nil
			}
			gap -= avail
		}
	}
	return time.Time{}, fmt.Errorf("no allowed time in the next %d years: check the windows and blackouts", horizon/366)
}

// intervals are the allowed spans of one day, in order, merged where
// windows overlap.
func (m *monkey) intervals(day time.Time) [][2]time.Time {
	y, mo, d := day.Date()
	var out [][2]time.Time
	for _, w := range m.windows {
		if !w.days[day.Weekday()] {
			continue
		}
		// Wall-clock times, so a window keeps its hours across DST
		// changes; 24:00 is the next day's midnight.
		at := func(off time.Duration) time.Time {
			return time.Date(y, mo, d, int(off/time.Hour), int(off%time.Hour/time.Minute), 0, 0, m.loc)
		}
		out = append(out, [2]time.Time{at(w.start), at(w.end)})
	}
	slices.SortFunc(out, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	merged := out[:0]
	for _, iv := range out {
		if n := len(merged); n > 0 && !iv[0].After(merged[n-1][1]) {
			if iv[1].After(merged[n-1][1]) {
				merged[n-1][1] = iv[1]
			}
			continue
		}
		merged = append(merged, iv)
	}
	return merged
}
