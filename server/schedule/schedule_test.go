package schedule

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
)

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func hours(h float64) experiment.Duration {
	return experiment.Duration(time.Duration(h * float64(time.Hour)))
}

func TestCron(t *testing.T) {
	tests := []struct {
		cron, after, want string
	}{
		{"0 3 * * *", "2026-03-02T10:00:00Z", "2026-03-03T03:00:00Z"},
		{"0 3 * * 1-5", "2026-03-06T10:00:00Z", "2026-03-09T03:00:00Z"}, // Friday → Monday
		{"*/15 * * * *", "2026-03-02T10:07:00Z", "2026-03-02T10:15:00Z"},
		{"@daily", "2026-03-02T10:00:00Z", "2026-03-03T00:00:00Z"},
		{"@every 6h", "2026-03-02T10:00:00Z", "2026-03-02T16:00:00Z"},
		{"CRON_TZ=Europe/Berlin 0 9 * * *", "2026-03-02T10:00:00Z", "2026-03-03T08:00:00Z"},
	}
	for _, tt := range tests {
		s, err := Compile(Spec{Cron: tt.cron})
		if err != nil {
			t.Fatalf("%s: %v", tt.cron, err)
		}
		got, err := s.Next(at(tt.after), nil, nil)
		if err != nil || !got.Equal(at(tt.want)) {
			t.Errorf("%s after %s: %v %v, want %s", tt.cron, tt.after, got, err, tt.want)
		}
	}
}

func TestCompileRejects(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"nothing", Spec{}, "needs cron"},
		{"both", Spec{Cron: "@daily", Monkey: &Monkey{MeanInterval: hours(1)}}, "not both"},
		{"bad cron", Spec{Cron: "61 * * * *"}, "cron"},
		{"no mean", Spec{Monkey: &Monkey{}}, "meanInterval"},
		{"negative cap", Spec{Monkey: &Monkey{MeanInterval: hours(1), MaxPerPeriod: -1}}, "maxPerPeriod"},
		{"bad zone", Spec{Monkey: &Monkey{MeanInterval: hours(1), Timezone: "Mars/Olympus"}}, "timezone"},
		{"bad day", Spec{Monkey: &Monkey{MeanInterval: hours(1), Windows: []Window{{Days: []string{"funday"}, Start: "09:00", End: "10:00"}}}}, "funday"},
		{"bad time", Spec{Monkey: &Monkey{MeanInterval: hours(1), Windows: []Window{{Start: "9:00", End: "10:00"}}}}, "HH:MM"},
		{"past 24h", Spec{Monkey: &Monkey{MeanInterval: hours(1), Windows: []Window{{Start: "09:00", End: "24:30"}}}}, "between 00:00 and 24:00"},
		{"end before start", Spec{Monkey: &Monkey{MeanInterval: hours(1), Windows: []Window{{Start: "22:00", End: "02:00"}}}}, "two windows"},
		{"bad blackout", Spec{Monkey: &Monkey{MeanInterval: hours(1), Blackouts: []string{"24.12.2026"}}}, "YYYY-MM-DD"},
		{"backward blackout", Spec{Monkey: &Monkey{MeanInterval: hours(1), Blackouts: []string{"2026-12-31..2026-12-01"}}}, "ends before"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
}

// Exact times for seeded sources: the function is pure.
func TestMonkeyNext(t *testing.T) {
	tests := []struct {
		name    string
		m       Monkey
		after   string
		history []time.Time
		seed    uint64
		want    string
	}{
		{
			name:  "Friday 16:30 in Berlin: half an hour left, the rest on Monday",
			m:     Monkey{MeanInterval: hours(8), BusinessHours: true, Timezone: "Europe/Berlin"},
			after: "2026-03-06T15:30:00Z", seed: 42, want: "2026-03-09T15:08:59.809645833Z",
		},
		{
			name:  "half an hour on Wednesdays: the gap outlasts the first one",
			m:     Monkey{MeanInterval: hours(1), Windows: []Window{{Days: []string{"wed"}, Start: "10:00", End: "10:30"}}},
			after: "2026-03-02T00:00:00Z", seed: 3, want: "2026-03-11T10:25:57.142062649Z",
		},
		{
			name:  "a blackout day is skipped",
			m:     Monkey{MeanInterval: hours(2), Blackouts: []string{"2026-03-03"}},
			after: "2026-03-02T23:00:00Z", seed: 5, want: "2026-03-04T00:18:46.640944635Z",
		},
		{
			name:    "two runs in the last 24h: the next waits until the older one leaves the period",
			m:       Monkey{MeanInterval: hours(1), MaxPerPeriod: 2, Period: hours(24)},
			after:   "2026-03-02T12:00:00Z",
			history: []time.Time{at("2026-03-02T11:00:00Z"), at("2026-03-02T08:00:00Z")},
			seed:    9, want: "2026-03-03T08:36:22.594519997Z",
		},
	}
	for _, tt := range tests {
		s, err := Compile(Spec{Monkey: &tt.m})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, err := s.Next(at(tt.after), tt.history, seeded(tt.seed))
		if err != nil || got.Format(time.RFC3339Nano) != tt.want {
			t.Errorf("%s: %v %v, want %s", tt.name, got.Format(time.RFC3339Nano), err, tt.want)
		}
	}
}

func TestMonkeyIsDeterministic(t *testing.T) {
	spec := Spec{Monkey: &Monkey{MeanInterval: hours(8), BusinessHours: true, Timezone: "Europe/Berlin"}}
	s, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	after := at("2026-03-02T12:00:00Z")
	a, err1 := s.Next(after, nil, seeded(42))
	b, err2 := s.Next(after, nil, seeded(42))
	c, _ := s.Next(after, nil, seeded(43))
	if err1 != nil || err2 != nil || !a.Equal(b) {
		t.Fatalf("same seed, different times: %v %v (%v %v)", a, b, err1, err2)
	}
	if a.Equal(c) {
		t.Fatalf("different seeds, same time %v", a)
	}
}

// Every time Next gives lies in the allowed time, and successive runs
// honour the cap, over a long seeded sequence.
func TestMonkeyStaysInsideTheRules(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		name    string
		m       Monkey
		allowed func(t time.Time) bool
		perDay  int
	}{
		{
			name: "business hours in Berlin",
			m:    Monkey{MeanInterval: hours(4), BusinessHours: true, Timezone: "Europe/Berlin"},
			allowed: func(t time.Time) bool {
				l := t.In(berlin)
				wd := l.Weekday()
				return wd != time.Saturday && wd != time.Sunday && l.Hour() >= 9 && l.Hour() < 17
			},
		},
		{
			name: "two windows, weekends only",
			m: Monkey{MeanInterval: hours(2), Windows: []Window{
				{Days: []string{"sat", "sun"}, Start: "10:00", End: "11:00"},
				{Days: []string{"sat-sun"}, Start: "14:30", End: "15:00"},
			}},
			allowed: func(t time.Time) bool {
				wd := t.Weekday()
				mins := t.Hour()*60 + t.Minute()
				return (wd == time.Saturday || wd == time.Sunday) &&
					((mins >= 600 && mins < 660) || (mins >= 870 && mins < 900))
			},
		},
		{
			name: "any time but the blackouts",
			m:    Monkey{MeanInterval: hours(6), Blackouts: []string{"2026-03-04", "2026-03-10..2026-03-20"}},
			allowed: func(t time.Time) bool {
				d := t.Format(time.DateOnly)
				return d != "2026-03-04" && (d < "2026-03-10" || d > "2026-03-20")
			},
		},
		{
			name:    "at most 2 a day, though the mean asks for more",
			m:       Monkey{MeanInterval: hours(1), MaxPerPeriod: 2, Period: hours(24)},
			allowed: func(time.Time) bool { return true },
			perDay:  2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile(Spec{Monkey: &tt.m})
			if err != nil {
				t.Fatal(err)
			}
			rng := seeded(7)
			prev := at("2026-03-02T00:00:00Z")
			var history []time.Time
			for i := range 200 {
				next, err := s.Next(prev, history, rng)
				if err != nil {
					t.Fatal(err)
				}
				if !next.After(prev) {
					t.Fatalf("run %d at %v is not after %v", i, next, prev)
				}
				if !tt.allowed(next) {
					t.Fatalf("run %d at %v (%s) is outside the allowed time", i, next, next.Weekday())
				}
				if tt.perDay > 0 {
					n := 1
					for _, h := range history {
						if h.After(next.Add(-24 * time.Hour)) {
							n++
						}
					}
					if n > tt.perDay {
						t.Fatalf("run %d at %v makes %d in 24h", i, next, n)
					}
				}
				history = append(history, next)
				prev = next
			}
		})
	}
}

// The mean gap, counted in allowed time, is the mean interval.
func TestMonkeyMean(t *testing.T) {
	s, err := Compile(Spec{Monkey: &Monkey{MeanInterval: hours(3)}})
	if err != nil {
		t.Fatal(err)
	}
	rng := seeded(1)
	start := at("2026-01-01T00:00:00Z")
	prev := start
	const n = 4000
	for range n {
		if prev, err = s.Next(prev, nil, rng); err != nil {
			t.Fatal(err)
		}
	}
	mean := prev.Sub(start) / n
	if mean < 170*time.Minute || mean > 190*time.Minute {
		t.Fatalf("mean gap %v, want about 3h", mean)
	}
}

func TestMonkeyWithNoAllowedTime(t *testing.T) {
	s, err := Compile(Spec{Monkey: &Monkey{MeanInterval: hours(1), Blackouts: []string{"2000-01-01..2100-01-01"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(at("2026-01-01T00:00:00Z"), nil, seeded(1)); err == nil || !strings.Contains(err.Error(), "no allowed time") {
		t.Fatalf("error %v", err)
	}
}
