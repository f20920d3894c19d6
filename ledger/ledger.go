// Package ledger is the durable record of every fault faultline applies.
// A record is appended and fsynced before its fault is applied, and marked
// recovered after it is undone, so any faultline process — the one that
// injected, or a new one after a crash — can find and recover what is still
// open, exactly once.
//
// The ledger is a JSON-lines file. Appends and recoveries hold an exclusive
// flock on it, so several faultline processes can share one ledger.
package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/internal/procfs"
)

// State is where a fault is in its life.
type State string

// The states a fault goes through.
const (
	// Injecting is written before the fault is applied: the fault may be
	// partly or wholly in place.
	Injecting State = "injecting"
	// Injected is written once the fault is applied, with its final state.
	Injected State = "injected"
	// RecoverFailed is written when an attempt to recover failed; the fault
	// is still open.
	RecoverFailed State = "recover-failed"
	// Recovered closes the fault.
	Recovered State = "recovered"
)

// Entry is one line of the ledger.
type Entry struct {
	Seq    int64         `json:"seq"`
	Time   time.Time     `json:"time"`
	ID     string        `json:"id"`
	State  State         `json:"state"`
	Record *fault.Record `json:"record,omitempty"`
	Note   string        `json:"note,omitempty"`
}

// Ledger is an open ledger file.
type Ledger struct {
	path string
	mu   sync.Mutex // serialises this process's users; flock serialises processes
}

// DefaultPath is $FAULTLINE_LEDGER, else the user's state directory
// ($XDG_STATE_HOME or ~/.local/state)/faultline/ledger.jsonl.
func DefaultPath() string {
	if p := os.Getenv("FAULTLINE_LEDGER"); p != "" {
		return p
	}
	return filepath.Join(StateDir(), "ledger.jsonl")
}

// StateDir is faultline's directory for durable local state.
func StateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "faultline")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "faultline")
	}
	return filepath.Join(os.TempDir(), "faultline-state")
}

// Open opens (creating if needed) the ledger at path.
func Open(path string) (*Ledger, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	defer f.Close()
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	return &Ledger{path: path}, nil
}

// Path is the ledger's file.
func (l *Ledger) Path() string { return l.path }

// locked runs fn with the ledger file open and exclusively locked.
func (l *Ledger) locked(ctx context.Context, fn func(f *os.File) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open ledger: %w", err)
	}
	defer f.Close()
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("lock ledger %s: %w", l.path, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lock ledger %s: another faultline holds it: %w", l.path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return fn(f)
}

// appendEntries writes entries after the last one and fsyncs; the caller
// holds the lock.
func appendEntries(f *os.File, es ...Entry) error {
	seq, err := dropTornTail(f)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, e := range es {
		seq++
		e.Seq = seq
		if e.Time.IsZero() {
			e.Time = time.Now().UTC()
		}
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode ledger entry: %w", err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write ledger: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync ledger: %w", err)
	}
	return nil
}

// tailSize is how much of the file's end dropTornTail reads: more than one
// entry, since records are small.
const tailSize = 64 << 10

// dropTornTail cuts a last line without its newline — faultline died while
// writing it, before the write was synced, so its fault was never applied —
// and returns the sequence number of the last whole entry. It reads only
// the end of the file, so appends stay cheap as the ledger grows.
func dropTornTail(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("read ledger: %w", err)
	}
	off := max(0, st.Size()-tailSize)
	tail := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(tail, off); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read ledger: %w", err)
	}
	if n := len(tail); n > 0 && tail[n-1] != '\n' {
		cut := bytes.LastIndexByte(tail, '\n') + 1
		if cut == 0 && off > 0 {
			return 0, fmt.Errorf("read ledger %s: its last line is longer than %d bytes and has no end", f.Name(), tailSize)
		}
		if err := f.Truncate(off + int64(cut)); err != nil {
			return 0, fmt.Errorf("drop torn ledger line: %w", err)
		}
		tail = tail[:cut]
	}
	lines := bytes.Split(bytes.TrimRight(tail, "\n"), []byte{'\n'})
	last := lines[len(lines)-1]
	if len(last) == 0 {
		return 0, nil
	}
	var e Entry
	if err := json.Unmarshal(last, &e); err != nil {
		return 0, fmt.Errorf("read ledger %s: last entry is corrupt: %w", f.Name(), err)
	}
	return e.Seq, nil
}

// readAll reads every entry. A torn last line (faultline died while
// writing it) is skipped: its fault was not applied yet.
func readAll(f *os.File) ([]Entry, error) {
	if _, err := f.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	var es []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var bad error
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if bad != nil {
			return nil, bad // a bad line that was not the last one
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			bad = fmt.Errorf("read ledger %s: entry after seq %d is corrupt: %w", f.Name(), lastSeq(es), err)
			continue
		}
		es = append(es, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	return es, nil
}

func lastSeq(es []Entry) int64 {
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].Seq
}

// Begin records a fault about to be applied. It returns once the record is
// on disk.
func (l *Ledger) Begin(ctx context.Context, rec *fault.Record) error {
	return l.locked(ctx, func(f *os.File) error {
		return appendEntries(f, Entry{ID: rec.ID, State: Injecting, Record: rec})
	})
}

// Injected records that a fault is applied, with the state Inject stored.
func (l *Ledger) Injected(ctx context.Context, rec *fault.Record) error {
	return l.locked(ctx, func(f *os.File) error {
		return appendEntries(f, Entry{ID: rec.ID, State: Injected, Record: rec})
	})
}

// OpenFault is a fault not yet recovered, with its latest record.
type OpenFault struct {
	Entry
	// OwnerAlive is true when the faultline process that injected it is
	// still running (on this host), so it will recover the fault itself.
	OwnerAlive bool `json:"ownerAlive"`
}

// Open lists the faults not yet recovered, oldest first.
func (l *Ledger) Open(ctx context.Context) ([]OpenFault, error) {
	var out []OpenFault
	err := l.locked(ctx, func(f *os.File) error {
		es, err := readAll(f)
		if err != nil {
			return err
		}
		out = openFaults(es)
		return nil
	})
	return out, err
}

func openFaults(es []Entry) []OpenFault {
	latest := map[string]Entry{}
	var order []string
	for _, e := range es {
		prev, seen := latest[e.ID]
		if !seen {
			order = append(order, e.ID)
		}
		if e.Record == nil && seen {
			e.Record = prev.Record
		}
		latest[e.ID] = e
	}
	host, _ := os.Hostname()
	var out []OpenFault
	for _, id := range order {
		e := latest[id]
		if e.State == Recovered || e.Record == nil {
			continue
		}
		o := e.Record.Owner
		alive := (o.Host == "" || o.Host == host) && procfs.Alive(o.PID, o.StartTime)
		out = append(out, OpenFault{Entry: e, OwnerAlive: alive})
	}
	return out
}

// Outcome says what Recover did.
type Outcome string

// Outcomes of Recover.
const (
	// RecoveredNow means this call undid the fault.
	RecoveredNow Outcome = "recovered"
	// AlreadyRecovered means another call or process had undone it.
	AlreadyRecovered Outcome = "already-recovered"
)

// Recover undoes fault id using only its ledger record, and marks it
// recovered, exactly once across processes: the ledger stays locked while
// the fault kind recovers. A failed recovery is recorded and returned; the
// fault stays open for a later attempt.
func (l *Ledger) Recover(ctx context.Context, id string) (Outcome, error) {
	var outcome Outcome
	err := l.locked(ctx, func(f *os.File) error {
		es, err := readAll(f)
		if err != nil {
			return err
		}
		var entry *OpenFault
		for _, o := range openFaults(es) {
			if o.ID == id {
				entry = &o
				break
			}
		}
		if entry == nil {
			if known(es, id) || inHistory(l.path, id) {
				outcome = AlreadyRecovered
				return nil
			}
			return fmt.Errorf("recover fault %s: not in ledger %s", id, l.path)
		}
		rec := entry.Record
		kind, ok := fault.Lookup(rec.Kind)
		if !ok {
			return fmt.Errorf("recover fault %s: kind %q is not built into this faultline", id, rec.Kind)
		}
		if rerr := kind.Recover(ctx, rec); rerr != nil {
			if err := appendEntries(f, Entry{ID: id, State: RecoverFailed, Note: rerr.Error()}); err != nil {
				return errors.Join(rerr, err)
			}
			return fmt.Errorf("recover %s on %s: %w", rec.Kind, rec.Target, rerr)
		}
		outcome = RecoveredNow
		if err := appendEntries(f, Entry{ID: id, State: Recovered}); err != nil {
			return err
		}
		if len(openFaults(es)) == 1 { // the one just recovered: nothing is open now
			return compact(f)
		}
		return nil
	})
	return outcome, err
}

func known(es []Entry, id string) bool {
	for _, e := range es {
		if e.ID == id {
			return true
		}
	}
	return false
}

// inHistory reports whether id is in the compacted history (PATH.1): it
// was recovered before the ledger was compacted.
func inHistory(path, id string) bool {
	f, err := os.Open(path + ".1")
	if err != nil {
		return false
	}
	defer f.Close()
	es, err := readAll(f)
	return err == nil && known(es, id)
}

// compactAbove is the size past which a ledger with no open fault is moved
// to its ".1" file and started afresh, so appends stay cheap.
const compactAbove = 256 << 10

// compact keeps the history in PATH.1 and empties the ledger, in place (the
// caller holds the lock on this inode, which other processes wait on).
func compact(f *os.File) error {
	st, err := f.Stat()
	if err != nil || st.Size() < compactAbove {
		return err
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return fmt.Errorf("compact ledger: %w", err)
	}
	old := f.Name() + ".1"
	if err := os.WriteFile(old+".tmp", b, 0o600); err != nil {
		return fmt.Errorf("compact ledger: %w", err)
	}
	if err := os.Rename(old+".tmp", old); err != nil {
		return fmt.Errorf("compact ledger: %w", err)
	}
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("compact ledger: %w", err)
	}
	return f.Sync()
}

// Entries returns every entry, for inspection and tests.
func (l *Ledger) Entries(ctx context.Context) ([]Entry, error) {
	var out []Entry
	err := l.locked(ctx, func(f *os.File) error {
		var err error
		out, err = readAll(f)
		return err
	})
	return out, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Result is what RecoverAll did with one open fault.
type Result struct {
	Fault   OpenFault
	Outcome Outcome
	// Skipped says why the fault was left alone (its owner is running).
	Skipped string
	Err     error
}

// RecoverAll recovers every open fault, newest first (the reverse of the
// order they were applied in). Faults whose owning faultline process is
// still running are left to it unless force is set.
func (l *Ledger) RecoverAll(ctx context.Context, force bool) ([]Result, error) {
	open, err := l.Open(ctx)
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	results := make([]Result, 0, len(open))
	for i := len(open) - 1; i >= 0; i-- {
		o := open[i]
		r := Result{Fault: o}
		if o.OwnerAlive && o.Record.Owner.PID != self && !force {
			r.Skipped = fmt.Sprintf("owned by running faultline pid %d, which will recover it (use --force to recover it now)", o.Record.Owner.PID)
		} else {
			r.Outcome, r.Err = l.Recover(ctx, o.ID)
		}
		results = append(results, r)
	}
	return results, nil
}
