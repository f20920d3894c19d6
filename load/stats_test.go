package load

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

func defaultSuccess(status int) bool { return status >= 200 && status < 400 }

// TestWindowSlides records results at chosen times and reads the window
// back: only the last window's results count, and the rate is taken over
// the span the window covers.
func TestWindowSlides(t *testing.T) {
	start := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	r := newRecorder(time.Second, defaultSuccess, 1) // slots of 100ms
	r.begin(start)
	// 0-1s: 100 fast successes; 1-2s: 50 slow failures. The ring keeps
	// only a window, so results are recorded as time goes on.
	type result struct {
		done    time.Time
		latency time.Duration
		status  int
	}
	var results []result
	for i := range 100 {
		results = append(results, result{at(time.Duration(i) * 10 * time.Millisecond), time.Millisecond, 200})
	}
	for i := range 50 {
		results = append(results, result{at(time.Second + time.Duration(i)*20*time.Millisecond), 300 * time.Millisecond, 503})
	}
	recordUntil := func(now time.Time) {
		for len(results) > 0 && !results[0].done.After(now) {
			res := results[0]
			r.record(0, res.done.Add(-res.latency), res.done, res.status, nil)
			results = results[1:]
		}
	}
	cases := []struct {
		name     string
		now      time.Duration
		requests int64
		ok       int64
		span     time.Duration
		p50      time.Duration
	}{
		{"early: the window is what ran", 500 * time.Millisecond, 51, 51, 500 * time.Millisecond, time.Millisecond},
		{"first second", 999 * time.Millisecond, 100, 100, 999 * time.Millisecond, time.Millisecond},
		{"both halves: 400ms-1.5s", 1499 * time.Millisecond, 60 + 25, 60, 1099 * time.Millisecond, time.Millisecond},
		{"second second only", 2099 * time.Millisecond, 50, 0, 1099 * time.Millisecond, 300 * time.Millisecond},
		{"long after", 10 * time.Second, 0, 0, 1000 * time.Millisecond, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recordUntil(at(tc.now))
			s := r.window(at(tc.now))
			if s.Requests != tc.requests || s.OK != tc.ok || s.Duration != tc.span {
				t.Fatalf("requests %d ok %d over %s, want %d %d over %s", s.Requests, s.OK, s.Duration, tc.requests, tc.ok, tc.span)
			}
			if want := float64(tc.requests) / tc.span.Seconds(); s.Rate != want {
				t.Errorf("rate %g, want %g", s.Rate, want)
			}
			if s.Latency.P50 != tc.p50 {
				t.Errorf("p50 %s, want %s", s.Latency.P50, tc.p50)
			}
		})
	}
	recordUntil(at(time.Hour))
	total := r.totals(at(2 * time.Second))
	if total.Requests != 150 || total.OK != 100 || total.Status[503] != 50 {
		t.Errorf("totals: %+v", total)
	}
	if total.SuccessRatio != 100.0/150 {
		t.Errorf("success ratio %g, want 2/3", total.SuccessRatio)
	}
	if total.Latency.Max != 300*time.Millisecond || total.Latency.P99 != 300*time.Millisecond {
		t.Errorf("latency %+v: want p99 and max 300ms", total.Latency)
	}
}

func TestPercentiles(t *testing.T) {
	r := newRecorder(time.Second, defaultSuccess, 1)
	start := time.Unix(1000, 0)
	r.begin(start)
	// 1ms, 2ms, … 1000ms, once each.
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Millisecond
		r.record(0, start, start.Add(d), 200, nil)
	}
	l := r.totals(start.Add(time.Second)).Latency
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{{"p50", l.P50, 500 * time.Millisecond}, {"p90", l.P90, 900 * time.Millisecond}, {"p99", l.P99, 990 * time.Millisecond}, {"p99.9", l.P999, 999 * time.Millisecond}, {"max", l.Max, time.Second}, {"mean", l.Mean, 500500 * time.Microsecond}} {
		if diff := c.got - c.want; diff < -c.want/1000 || diff > c.want/1000 {
			t.Errorf("%s %s, want %s within 0.1%%", c.name, c.got, c.want)
		}
	}
}

// TestClassify checks the kinds of errors real sockets give.
func TestClassify(t *testing.T) {
	closedPort := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	cases := []struct {
		name string
		err  func(t *testing.T) error
		want string
	}{
		{"refused", func(t *testing.T) error {
			_, err := net.Dial("tcp", closedPort(t))
			return err
		}, "refused"},
		{"timeout", func(t *testing.T) error {
			c, s := net.Pipe()
			defer s.Close()
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Millisecond))
			_, err := c.Read(make([]byte, 1))
			return err
		}, "timeout"},
		{"deadline exceeded", func(*testing.T) error { return fmt.Errorf("read: %w", os.ErrDeadlineExceeded) }, "timeout"},
		{"other", func(*testing.T) error { return errors.New("odd") }, "other"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(t)
			if got := errNames[classify(err)]; got != tc.want {
				t.Errorf("%v classified as %q, want %q", err, got, tc.want)
			}
		})
	}
}
