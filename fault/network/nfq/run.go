package nfq

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// QueueLen is how many packets the kernel keeps for the worker; past it
// (and whenever no worker reads the queue) packets pass unharmed.
const QueueLen = 16384

// NeedsPayload reports whether the policy looks into packets (else only
// their metadata is copied to the worker, which is cheaper).
func (c Config) NeedsPayload() bool {
	return c.Corrupt > 0 || c.Duplicate > 0 || c.DNS != nil
}

// Stats counts what a worker did.
type Stats struct {
	Packets, Dropped, Delayed, Duplicated, Modified uint64
}

// Run reads NFQUEUE queue num in the calling process's network namespace
// and applies cfg to every packet until ctx ends; then it lets every
// packet it still holds go at once and returns. It calls ready once the
// queue is bound. Duplicates are sent through a raw socket with mark
// skipMark, which the fault's rules let pass without queueing them again.
func Run(ctx context.Context, num uint16, cfg Config, seed uint64, skipMark uint32, ready func(), log *slog.Logger) (Stats, error) {
	mode := uint8(nfqueue.NfQnlCopyMeta)
	if cfg.NeedsPayload() {
		mode = nfqueue.NfQnlCopyPacket
	}
	q, err := nfqueue.Open(&nfqueue.Config{
		NfQueue: num, MaxPacketLen: 0xffff, MaxQueueLen: QueueLen, Copymode: mode,
		Flags: nfqueue.NfQaCfgFlagFailOpen, WriteTimeout: time.Second,
	})
	if err != nil {
		return Stats{}, fmt.Errorf("open nfqueue: %w", err)
	}
	defer q.Close()
	if err := q.SetOption(netlink.NoENOBUFS, true); err != nil {
		return Stats{}, fmt.Errorf("nfqueue: %w", err)
	}
	var dup *rawSender
	if cfg.Duplicate > 0 {
		if dup, err = newRawSender(skipMark); err != nil {
			return Stats{}, err
		}
		defer dup.Close()
	}
	w := &worker{q: q, policy: NewPolicy(cfg, seed), dup: dup, log: log, wake: make(chan struct{}, 1)}
	readCtx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	err = q.RegisterWithErrorFunc(readCtx, w.packet, func(err error) int {
		var op *netlink.OpError
		if errors.As(err, &op) && (op.Timeout() || errors.Is(op.Err, unix.ENOBUFS)) {
			return 0
		}
		if readCtx.Err() == nil {
			log.Warn("nfqueue read failed", "queue", num, "err", err)
		}
		return 1
	})
	if err != nil {
		return Stats{}, fmt.Errorf("bind nfqueue %d: %w", num, err)
	}
	ready()
	w.schedule(ctx)
	stopReading()
	w.flush()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats, nil
}

// worker carries out a policy's decisions.
type worker struct {
	q      *nfqueue.Nfqueue
	policy *Policy
	dup    *rawSender
	log    *slog.Logger
	wake   chan struct{}

	mu    sync.Mutex
	held  heldHeap
	seq   uint64
	stats Stats
}

// held is a packet waiting for its time.
type held struct {
	due    time.Time
	seq    uint64
	id     uint32
	action Action
	orig   []byte
}

type heldHeap []held

func (h heldHeap) Len() int { return len(h) }
func (h heldHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h heldHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *heldHeap) Push(x any)   { *h = append(*h, x.(held)) }
func (h *heldHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// packet is called for each queued packet, in order.
func (w *worker) packet(a nfqueue.Attribute) int {
	if a.PacketID == nil {
		return 0
	}
	var pkt []byte
	if a.Payload != nil {
		pkt = *a.Payload
	}
	now := time.Now()
	w.mu.Lock()
	act := w.policy.Decide(pkt)
	w.stats.Packets++
	if act.Drop {
		w.stats.Dropped++
		w.mu.Unlock()
		w.verdict(held{id: *a.PacketID, action: act})
		return 0
	}
	if act.After <= 0 {
		w.mu.Unlock()
		w.release(held{id: *a.PacketID, action: act, orig: pkt})
		return 0
	}
	w.stats.Delayed++
	w.seq++
	h := held{due: now.Add(act.After), seq: w.seq, id: *a.PacketID, action: act}
	if act.Duplicate && act.Packet == nil {
		h.orig = append([]byte(nil), pkt...)
	}
	first := len(w.held) == 0 || h.due.Before(w.held[0].due)
	heap.Push(&w.held, h)
	w.mu.Unlock()
	if first {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return 0
}

// schedule releases held packets when due, until ctx ends.
func (w *worker) schedule(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var due []held
	for {
		w.mu.Lock()
		now := time.Now()
		due = due[:0]
		for len(w.held) > 0 && !w.held[0].due.After(now) {
			due = append(due, heap.Pop(&w.held).(held))
		}
		next := time.Hour
		if len(w.held) > 0 {
			next = w.held[0].due.Sub(now)
		}
		w.mu.Unlock()
		for _, h := range due {
			w.release(h)
		}
		t.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.wake:
		}
	}
}

// flush lets every held packet go now.
func (w *worker) flush() {
	w.mu.Lock()
	all := w.held
	w.held = nil
	w.mu.Unlock()
	for _, h := range all {
		w.release(h)
	}
}

// release accepts a packet (as modified) and sends its duplicate.
func (w *worker) release(h held) {
	w.verdict(h)
	if !h.action.Duplicate || w.dup == nil {
		return
	}
	pkt := h.action.Packet
	if pkt == nil {
		pkt = h.orig
	}
	if err := w.dup.send(pkt); err != nil {
		w.log.Debug("send duplicate", "err", err)
		return
	}
	w.mu.Lock()
	w.stats.Duplicated++
	w.mu.Unlock()
}

func (w *worker) verdict(h held) {
	var err error
	switch {
	case h.action.Drop:
		err = w.q.SetVerdict(h.id, nfqueue.NfDrop)
	case h.action.Packet != nil:
		err = w.q.SetVerdictModPacket(h.id, nfqueue.NfAccept, h.action.Packet)
		w.mu.Lock()
		w.stats.Modified++
		w.mu.Unlock()
	default:
		err = w.q.SetVerdict(h.id, nfqueue.NfAccept)
	}
	if err != nil {
		w.log.Debug("nfqueue verdict", "id", h.id, "err", err)
	}
}

// rawSender sends whole IP packets, marked so the fault's rules let them
// pass.
type rawSender struct{ fd4, fd6 int }

func newRawSender(mark uint32) (*rawSender, error) {
	s := &rawSender{fd4: -1, fd6: -1}
	for _, x := range []struct {
		fd  *int
		fam int
	}{{&s.fd4, unix.AF_INET}, {&s.fd6, unix.AF_INET6}} {
		fd, err := unix.Socket(x.fam, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			if x.fam == unix.AF_INET6 && errors.Is(err, unix.EAFNOSUPPORT) {
				continue // no IPv6 here: no IPv6 duplicates
			}
			s.Close()
			return nil, fmt.Errorf("open a raw socket for duplicates: %w", err)
		}
		*x.fd = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(mark)); err != nil {
			s.Close()
			return nil, fmt.Errorf("mark the duplicates' socket: %w", err)
		}
	}
	return s, nil
}

func (s *rawSender) send(pkt []byte) error {
	ip, ok := parseIP(pkt)
	if !ok {
		return errors.New("not an IP packet")
	}
	if ip.v6 {
		if s.fd6 < 0 {
			return errors.New("no IPv6 raw socket")
		}
		return unix.Sendto(s.fd6, pkt, 0, &unix.SockaddrInet6{Addr: ip.dst.As16()})
	}
	return unix.Sendto(s.fd4, pkt, 0, &unix.SockaddrInet4{Addr: ip.dst.As4()})
}

func (s *rawSender) Close() error {
	for _, fd := range []int{s.fd4, s.fd6} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	return nil
}
