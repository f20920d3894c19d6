package load

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Stats are the figures of a span of a run: all of it (Generator.Total) or
// its sliding window (Generator.Recent). Latencies are in nanoseconds in
// JSON, as time.Duration marshals.
type Stats struct {
	// Duration is the span the figures cover.
	Duration time.Duration `json:"duration"`
	// Requests counts the requests that completed in the span: answered
	// or failed.
	Requests int64 `json:"requests"`
	// Rate is Requests per second of Duration.
	Rate float64 `json:"rate"`
	// OK counts the answers with an expected status.
	OK int64 `json:"ok"`
	// SuccessRatio is OK / Requests (0 without requests).
	SuccessRatio float64 `json:"successRatio"`
	// Status counts the answers by status code.
	Status map[int]int64 `json:"status,omitempty"`
	// Errors counts the requests that got no answer, by kind: timeout,
	// refused, reset, closed, protocol, tls, dial, other.
	Errors map[string]int64 `json:"errors,omitempty"`
	// ErrorExamples holds the first message seen of each kind of error.
	ErrorExamples map[string]string `json:"errorExamples,omitempty"`
	// Latency is measured over every completed request, failed ones
	// included (a timeout counts as the time it waited).
	Latency Latency `json:"latency"`
	// InFlight is the number of requests sent and not yet completed when
	// the figures were taken.
	InFlight int64 `json:"inFlight"`
	// Targets are each target's figures, in the order of Config.Targets,
	// when there are several (Generator.Total only).
	Targets []TargetStats `json:"targets,omitempty"`
}

// TargetStats are one target's figures over the whole run: the figures of
// Stats that a target has on its own.
type TargetStats struct {
	// Name is the target's Name, or its method and URL.
	Name         string           `json:"name"`
	Method       string           `json:"method"`
	URL          string           `json:"url"`
	Weight       int              `json:"weight"`
	Requests     int64            `json:"requests"`
	Rate         float64          `json:"rate"`
	OK           int64            `json:"ok"`
	SuccessRatio float64          `json:"successRatio"`
	Status       map[int]int64    `json:"status,omitempty"`
	Errors       map[string]int64 `json:"errors,omitempty"`
	Latency      Latency          `json:"latency"`
}

// Latency summarises a latency distribution.
type Latency struct {
	P50  time.Duration `json:"p50"`
	P90  time.Duration `json:"p90"`
	P99  time.Duration `json:"p99"`
	P999 time.Duration `json:"p999"`
	Max  time.Duration `json:"max"`
	Mean time.Duration `json:"mean"`
}

// ErrorCount is the number of requests that got no answer.
func (s Stats) ErrorCount() int64 {
	var n int64
	for _, c := range s.Errors {
		n += c
	}
	return n
}

// errKind is a way a request can fail without an answer.
type errKind uint8

const (
	errNone errKind = iota
	errTimeout
	errRefused
	errReset
	errClosed
	errProtocol
	errTLS
	errDial
	errOther
	numErrKinds
)

var errNames = [numErrKinds]string{"", "timeout", "refused", "reset", "closed", "protocol", "tls", "dial", "other"}

// classify names the kind of a failed request's error.
func classify(err error) errKind {
	var (
		ne    net.Error
		pe    *protocolError
		op    *net.OpError
		cverr *tls.CertificateVerificationError
		rherr tls.RecordHeaderError
		alert tls.AlertError
	)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return errRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return errReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errClosed
	case errors.As(err, &pe):
		return errProtocol
	case errors.As(err, &cverr), errors.As(err, &rherr), errors.As(err, &alert):
		return errTLS
	case errors.As(err, &op) && op.Op == "dial":
		return errDial
	}
	return errOther
}

// Histograms hold microseconds from 1 µs to an hour with three significant
// digits (0.1% resolution); longer latencies are recorded as an hour.
const (
	histMin     = 1
	histMax     = int64(time.Hour / time.Microsecond)
	histSigFigs = 3
)

// maxStatus bounds the status codes counted: the parser accepts 100-599.
const maxStatus = 600

// tally accumulates the results of a span.
type tally struct {
	hist     *hdrhistogram.Histogram
	requests int64
	ok       int64
	max      time.Duration
	sum      time.Duration
	status   [maxStatus]int64
	errors   [numErrKinds]int64
}

func newTally() tally {
	return tally{hist: hdrhistogram.New(histMin, histMax, histSigFigs)}
}

func (t *tally) add(latency time.Duration, status int, kind errKind, ok bool) {
	_ = t.hist.RecordValue(min(int64(latency/time.Microsecond), histMax)) // never out of range
	t.requests++
	t.sum += latency
	t.max = max(t.max, latency)
	if kind != errNone {
		t.errors[kind]++
		return
	}
	t.status[status]++
	if ok {
		t.ok++
	}
}

func (t *tally) merge(o *tally) {
	t.hist.Merge(o.hist)
	t.requests += o.requests
	t.ok += o.ok
	t.sum += o.sum
	t.max = max(t.max, o.max)
	for i, n := range o.status {
		t.status[i] += n
	}
	for i, n := range o.errors {
		t.errors[i] += n
	}
}

func (t *tally) reset() {
	h := t.hist
	h.Reset()
	*t = tally{hist: h}
}

// stats turns the tally into figures over span.
func (t *tally) stats(span time.Duration, examples *[numErrKinds]string) Stats {
	s := Stats{Duration: span, Requests: t.requests, OK: t.ok}
	if span > 0 {
		s.Rate = float64(t.requests) / span.Seconds()
	}
	if t.requests == 0 {
		return s
	}
	s.SuccessRatio = float64(t.ok) / float64(t.requests)
	for code, n := range t.status {
		if n > 0 {
			if s.Status == nil {
				s.Status = map[int]int64{}
			}
			s.Status[code] = n
		}
	}
	for k, n := range t.errors {
		if n > 0 {
			if s.Errors == nil {
				s.Errors, s.ErrorExamples = map[string]int64{}, map[string]string{}
			}
			s.Errors[errNames[k]] = n
			s.ErrorExamples[errNames[k]] = examples[k]
		}
	}
	at := func(q float64) time.Duration {
		return min(time.Duration(t.hist.ValueAtQuantile(q))*time.Microsecond, t.max)
	}
	s.Latency = Latency{
		P50: at(50), P90: at(90), P99: at(99), P999: at(99.9),
		Max:  t.max,
		Mean: t.sum / time.Duration(t.requests),
	}
	return s
}

// windowSlots is how many slots of a tenth of the window each the sliding
// window keeps besides the current one: a window's figures cover between
// one and 1.1 windows.
const windowSlots = 10

// slot is the tally of one tenth of a window.
type slot struct {
	epoch int64 // slot number since the start; -1 when unused
	tally
}

// recorder keeps the whole run's tally, each target's when there are
// several, and a ring of slots for the sliding window. One mutex guards it:
// recording is a few counter updates and two or three histogram
// increments, far shorter than a request.
type recorder struct {
	mu       sync.Mutex
	start    time.Time
	width    time.Duration // of a slot
	total    tally
	targets  []tally // by target; nil for a single target
	slots    [windowSlots + 1]slot
	scratch  tally // the merged window, reused
	examples [numErrKinds]string
	success  [maxStatus]bool
}

// newRecorder returns a recorder for targets targets.
func newRecorder(window time.Duration, success func(int) bool, targets int) *recorder {
	r := &recorder{width: max(window/windowSlots, time.Millisecond), total: newTally(), scratch: newTally()}
	if targets > 1 {
		r.targets = make([]tally, targets)
		for i := range r.targets {
			r.targets[i] = newTally()
		}
	}
	for i := range r.slots {
		r.slots[i] = slot{epoch: -1, tally: newTally()}
	}
	for code := range r.success {
		r.success[code] = success(code)
	}
	return r
}

// begin sets the start of the run.
func (r *recorder) begin(t time.Time) {
	r.mu.Lock()
	r.start = t
	r.mu.Unlock()
}

// record adds the result of a request to target sent (or due) at from and
// completed at done: an answer's status, or the error that stopped it.
func (r *recorder) record(target int, from, done time.Time, status int, err error) {
	kind := errNone
	if err != nil {
		kind = classify(err)
	}
	latency := done.Sub(from)
	r.mu.Lock()
	defer r.mu.Unlock()
	ok := kind == errNone && r.success[status]
	r.total.add(latency, status, kind, ok)
	if r.targets != nil {
		r.targets[target].add(latency, status, kind, ok)
	}
	epoch := int64(done.Sub(r.start) / r.width)
	s := &r.slots[epoch%int64(len(r.slots))]
	if s.epoch != epoch {
		s.reset()
		s.epoch = epoch
	}
	s.add(latency, status, kind, ok)
	if kind != errNone && r.examples[kind] == "" {
		r.examples[kind] = err.Error()
	}
}

// totals returns the figures of the whole run up to now.
func (r *recorder) totals(now time.Time) Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() {
		return Stats{}
	}
	span := now.Sub(r.start)
	s := r.total.stats(span, &r.examples)
	for i := range r.targets {
		ts := r.targets[i].stats(span, &r.examples)
		s.Targets = append(s.Targets, TargetStats{
			Requests: ts.Requests, Rate: ts.Rate, OK: ts.OK, SuccessRatio: ts.SuccessRatio,
			Status: ts.Status, Errors: ts.Errors, Latency: ts.Latency,
		})
	}
	return s
}

// window returns the figures of the last window up to now: the current
// slot and the windowSlots before it.
func (r *recorder) window(now time.Time) Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() {
		return Stats{}
	}
	cur := int64(now.Sub(r.start) / r.width)
	oldest := max(cur-windowSlots, 0)
	m := &r.scratch
	m.reset()
	for i := range r.slots {
		if s := &r.slots[i]; s.epoch >= oldest && s.epoch <= cur {
			m.merge(&s.tally)
		}
	}
	from := r.start.Add(time.Duration(oldest) * r.width)
	return m.stats(now.Sub(from), &r.examples)
}

// Describe is a one-line account of the figures, for progress lines and
// probe details: "1200 requests in 5s (240.0/s), 99.92% ok, p99 12.1ms;
// 200 ×1199; timeout ×1".
func (s Stats) Describe() string {
	line := fmt.Sprintf("%d requests in %s (%.1f/s), %.2f%% ok", s.Requests, s.Duration.Round(time.Millisecond), s.Rate, 100*s.SuccessRatio)
	if s.Requests > 0 {
		line += fmt.Sprintf(", p99 %s", round(s.Latency.P99))
	}
	for _, code := range sortedKeys(s.Status) {
		line += fmt.Sprintf("; %d ×%d", code, s.Status[code])
	}
	for _, kind := range sortedKeys(s.Errors) {
		line += fmt.Sprintf("; %s ×%d", kind, s.Errors[kind])
	}
	return line
}

// round keeps three or four significant digits of a latency, for people.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= 10*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
