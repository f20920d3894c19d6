package network

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/network/nfq"
	"github.com/faultline-dev/faultline/fault/network/ns"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/internal/worker"
)

// envWorker marks a faultline process started as an NFQUEUE worker; it
// holds the worker's workerArgs as JSON.
const envWorker = "FAULTLINE_NFQUEUE_WORKER"

const (
	readyTimeout = 10 * time.Second
	// parentPoll is how often a worker checks that its parent lives.
	parentPoll = 100 * time.Millisecond
	// queueTries is how many queue numbers a worker tries to bind.
	queueTries = 32
	// stopGrace is how long a worker told to stop may take to let its
	// held packets go before it is killed.
	stopGrace = 2 * time.Second
	// killWait bounds the wait for a killed worker to be gone.
	killWait = 5 * time.Second
	// waitPoll is how often stopWorkers checks whether workers are gone.
	waitPoll = 10 * time.Millisecond
)

// workerArgs is what a worker is told.
type workerArgs struct {
	// Parent is the faultline process that started the worker: the worker
	// stops when it is re-parented (its parent died), and with it the
	// fault's effect (packets then pass the queue rules: bypass).
	Parent   int        `json:"parent"`
	Deadline time.Time  `json:"deadline"`
	Queue    uint16     `json:"queue"`
	SkipMark uint32     `json:"skipMark"`
	Seed     uint64     `json:"seed"`
	Config   nfq.Config `json:"config"`
}

func init() { RunWorkerIfRequested() }

// RunWorkerIfRequested runs an NFQUEUE worker and exits when the process
// was started as one ($FAULTLINE_NFQUEUE_WORKER set); otherwise it returns
// false at once. The package's init calls it, so a binary that links the
// network kinds serves as their worker.
func RunWorkerIfRequested() bool {
	if raw, ok := os.LookupEnv(envWorker); ok {
		os.Exit(runWorker(raw))
	}
	return false
}

// runWorker binds the first free queue from a.Queue on, says "ready N"
// (or "error: why") on stdout, and works until told to stop.
func runWorker(raw string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var a workerArgs
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		fmt.Printf("error: decode %s: %v\n", envWorker, err)
		return 1
	}
	ctx, stop := worker.Watch(a.Parent, a.Deadline, parentPoll, stopGrace)
	defer stop()
	var lastErr error
	for i := range queueTries {
		num := a.Queue + uint16(i)
		ready := false
		stats, err := nfq.Run(ctx, num, a.Config, a.Seed, a.SkipMark, func() {
			ready = true
			fmt.Printf("ready %d\n", num)
		}, log)
		if ready {
			if err != nil {
				log.Error("nfqueue worker", "queue", num, "err", err)
				return 1
			}
			log.Info("nfqueue worker done", "queue", num, "packets", stats.Packets, "dropped", stats.Dropped,
				"delayed", stats.Delayed, "duplicated", stats.Duplicated, "modified", stats.Modified)
			return 0
		}
		lastErr = err
	}
	fmt.Printf("error: no free NFQUEUE queue in %d-%d: %s\n", a.Queue, a.Queue+queueTries-1, strings.ReplaceAll(fmt.Sprint(lastErr), "\n", "; "))
	return 1
}

// hash32 is a stable hash of a fault id, for its queue number and mark.
func hash32(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()
}

// firstQueue is the first queue number fault id's worker tries.
func firstQueue(id string) uint16 { return uint16(20000 + hash32(id)%10000) }

// skipMark marks fault id's duplicates so its own rules let them pass.
func skipMark(id string) uint32 { return 0x0fa10000 | hash32(id)&0xffff }

// proc names one process for its whole life.
type proc = worker.Proc

// startWorker starts the NFQUEUE worker of rec in namespace nsf and waits
// until it has bound its queue, whose number it returns.
func startWorker(ctx context.Context, rec *fault.Record, nsf *os.File, cfg nfq.Config) (proc, uint16, error) {
	exe, err := os.Executable()
	if err != nil {
		return proc{}, 0, fmt.Errorf("find the running binary to start the nfqueue worker: %w", err)
	}
	deadline := worker.Deadline(rec.Duration.D())
	a := workerArgs{Parent: os.Getpid(), Deadline: deadline, Queue: firstQueue(rec.ID), SkipMark: skipMark(rec.ID),
		Seed: uint64(time.Now().UnixNano()), Config: cfg}
	b, err := json.Marshal(a)
	if err != nil {
		return proc{}, 0, fmt.Errorf("encode the worker's arguments: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return proc{}, 0, fmt.Errorf("make a pipe for the worker: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envWorker+"="+string(b), fault.TagEnv+"="+rec.ID)
	cmd.Stdout = w
	cmd.Stderr = os.Stderr
	// Its own process group, so a Ctrl-C at the terminal reaches faultline
	// (which recovers) rather than the worker behind its back.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = ns.Do(nsf, cmd.Start) // born in the target's namespace
	w.Close()
	if err != nil {
		return proc{}, 0, fmt.Errorf("start the nfqueue worker: %w", err)
	}
	st, statErr := procfs.ReadStat(cmd.Process.Pid)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	p := proc{PID: cmd.Process.Pid, StartTime: st.StartTime}
	if statErr != nil {
		_ = cmd.Process.Kill()
		return proc{}, 0, fmt.Errorf("identify the worker just started: %w", statErr)
	}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	fail := func(err error) (proc, uint16, error) {
		return proc{}, 0, errors.Join(err, stopWorkers(ctx, rec.ID, []proc{p}))
	}
	waitCtx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	select {
	case line := <-lines:
		if n, ok := strings.CutPrefix(line, "ready "); ok {
			q, err := strconv.ParseUint(n, 10, 16)
			if err != nil {
				return fail(fmt.Errorf("worker pid %d said %q", p.PID, line))
			}
			return p, uint16(q), nil
		}
		if why, ok := strings.CutPrefix(line, "error: "); ok {
			return fail(fmt.Errorf("nfqueue worker: %s", why))
		}
		select {
		case err := <-exited:
			return fail(fmt.Errorf("nfqueue worker pid %d ended before it was ready: %v", p.PID, err))
		case <-time.After(time.Second):
			return fail(fmt.Errorf("nfqueue worker pid %d closed its output before it was ready", p.PID))
		}
	case <-waitCtx.Done():
		return fail(fmt.Errorf("nfqueue worker pid %d not ready within %s: %w", p.PID, readyTimeout, waitCtx.Err()))
	}
}

// stopWorkers stops the workers of fault id — those in known and every
// process tagged with id — with SIGTERM (they let their held packets go),
// then SIGKILL after stopGrace, and waits until they are gone. It ignores
// ctx's cancellation: recovery must finish.
func stopWorkers(ctx context.Context, id string, known []proc) error {
	live, err := worker.Find(id, known)
	if err != nil {
		return err
	}
	if len(live) == 0 {
		return nil
	}
	var errs []error
	for _, p := range live {
		errs = append(errs, p.Signal(syscall.SIGTERM))
	}
	if worker.WaitGone(ctx, live, stopGrace, waitPoll) == nil {
		return errors.Join(errs...)
	}
	for _, p := range live {
		errs = append(errs, p.Signal(syscall.SIGKILL))
	}
	if err := worker.WaitGone(ctx, live, killWait, waitPoll); err != nil {
		errs = append(errs, fmt.Errorf("stop the nfqueue workers of fault %s: %w after %s", id, err, killWait))
	}
	return errors.Join(errs...)
}
