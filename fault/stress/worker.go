package stress

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/internal/worker"
)

// The environment of a worker process.
const (
	// envWorker names the worker's kind (cpu, memory, io).
	envWorker = "FAULTLINE_STRESS_WORKER"
	// envArgs holds its workerArgs as JSON.
	envArgs = "FAULTLINE_STRESS_ARGS"
)

const (
	// readyTimeout bounds the wait for a worker's first word.
	readyTimeout = 10 * time.Second
	// parentPoll is how often a worker checks that its parent lives.
	parentPoll = 150 * time.Millisecond
	// exitGrace is how long a worker told to stop may take to clean up.
	exitGrace = 2 * time.Second
)

// workerArgs is what a worker process is told.
type workerArgs struct {
	// Parent is the pid of the faultline process that started the worker;
	// the worker stops when it is re-parented (its parent died).
	Parent   int       `json:"parent"`
	Deadline time.Time `json:"deadline"`
	// cpu: the share of each window to spin, 0..1.
	Load float64 `json:"load,omitempty"`
	// memory: bytes to hold, and the time to grow to them.
	Size int64         `json:"size,omitempty"`
	Ramp time.Duration `json:"ramp,omitempty"`
	// io: the file to work on and how.
	File      string `json:"file,omitempty"`
	Mode      string `json:"mode,omitempty"`
	BlockSize int64  `json:"blockSize,omitempty"`
	FileSize  int64  `json:"fileSize,omitempty"`
}

// A workerFunc is the body of a worker process. It calls ready once its
// load is applied (or, for a ramp, started) and returns when ctx is done.
type workerFunc func(ctx context.Context, a workerArgs, ready func()) error

var workerFuncs = map[string]workerFunc{
	"cpu":    cpuWork,
	"memory": memoryWork,
	"io":     ioWork,
}

func init() { RunWorkerIfRequested() }

// RunWorkerIfRequested runs a stress worker and exits the process when the
// process was started as one (FAULTLINE_STRESS_WORKER is set in its
// environment); it never returns then. Otherwise it returns false at once.
// A binary that registers the stress kinds calls it first thing in main,
// before parsing its command line; tests call it from TestMain.
//
// This package's init calls it too, so that a binary that links the kinds
// but forgets the call (a test binary running the engine, say) cannot run
// its own main again in every worker it starts, which would inject again.
func RunWorkerIfRequested() bool {
	if kind, ok := os.LookupEnv(envWorker); ok {
		os.Exit(runWorker(kind, os.Getenv(envArgs)))
	}
	return false
}

// runWorker runs the worker and returns its exit code. Before it is ready
// it answers on stdout "ready" or "error: <why>", one line.
func runWorker(kind, rawArgs string) int {
	ready := false
	fail := func(err error) int {
		msg := strings.ReplaceAll(err.Error(), "\n", "; ")
		if !ready {
			fmt.Fprintf(os.Stdout, "error: %s\n", msg)
		}
		fmt.Fprintf(os.Stderr, "faultline %s stress worker: %s\n", kind, msg)
		return 1
	}
	work, ok := workerFuncs[kind]
	if !ok {
		return fail(fmt.Errorf("unknown worker kind %q in %s", kind, envWorker))
	}
	var a workerArgs
	if err := json.Unmarshal([]byte(rawArgs), &a); err != nil {
		return fail(fmt.Errorf("decode %s: %w", envArgs, err))
	}
	ctx, stop := worker.Watch(a.Parent, a.Deadline, parentPoll, exitGrace)
	defer stop()
	err := work(ctx, a, func() {
		ready = true
		fmt.Fprintln(os.Stdout, "ready")
	})
	if err != nil {
		return fail(err)
	}
	return 0
}

// startWorkers starts one worker process of kind per args, tagged with the
// record's id, and waits (at most timeout) until each reports ready. On
// failure it stops every worker it started.
func startWorkers(ctx context.Context, rec *fault.Record, kind string, args []workerArgs, timeout time.Duration) ([]proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the running binary to start %s workers: %w", kind, err)
	}
	deadline := worker.Deadline(rec.Duration.D())
	var started []*spawned
	fail := func(err error) ([]proc, error) {
		procs := make([]proc, len(started))
		for i, s := range started {
			procs[i] = s.proc
			s.out.Close() // closed already if awaited; a second Close is harmless
		}
		return nil, errors.Join(err, stopWorkers(ctx, rec.ID, procs))
	}
	for _, a := range args {
		a.Parent, a.Deadline = os.Getpid(), deadline
		s, err := spawn(exe, rec.ID, kind, a)
		if err != nil {
			return fail(err)
		}
		started = append(started, s)
	}
	waitCtx, cancel := context.WithTimeoutCause(ctx, timeout,
		fmt.Errorf("%s workers not ready within %v", kind, timeout))
	defer cancel()
	procs := make([]proc, len(started))
	for i, s := range started {
		if err := s.awaitReady(waitCtx); err != nil {
			return fail(fmt.Errorf("start %s worker %d of %d: %w", kind, i+1, len(started), err))
		}
		procs[i] = s.proc
	}
	return procs, nil
}

// spawned is a worker process just started.
type spawned struct {
	proc
	// out is the read end of the worker's stdout.
	out *os.File
	// exited reports the worker's exit once it is reaped.
	exited <-chan error
}

// spawn starts one worker process running a.
func spawn(exe, id, kind string, a workerArgs) (*spawned, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode %s worker arguments: %w", kind, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("make a pipe for a %s worker: %w", kind, err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(),
		envWorker+"="+kind, envArgs+"="+string(b), fault.TagEnv+"="+id, "GOMAXPROCS=1")
	cmd.Stdout = w
	// Its own process group: a Ctrl-C at the terminal reaches faultline,
	// which recovers, rather than the workers behind its back. Pdeathsig is
	// not used: it fires when the spawning thread exits, which in Go need
	// not be when the process does; workers poll their parent instead.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start a %s worker: %w", kind, err)
	}
	// Read the start time before anything may reap the process.
	st, statErr := procfs.ReadStat(cmd.Process.Pid)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if statErr != nil {
		_ = cmd.Process.Kill()
		r.Close()
		return nil, fmt.Errorf("identify the %s worker just started: %w", kind, statErr)
	}
	return &spawned{proc: proc{PID: cmd.Process.Pid, StartTime: st.StartTime}, out: r, exited: exited}, nil
}

// awaitReady waits for the worker's first line: "ready" or "error: <why>".
func (s *spawned) awaitReady(ctx context.Context) error {
	defer s.out.Close() // also ends the reading goroutine on a timeout
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(s.out).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	select {
	case line := <-lines:
		if line == "ready" {
			return nil
		}
		if why, ok := strings.CutPrefix(line, "error: "); ok {
			return fmt.Errorf("worker pid %d: %s", s.PID, why)
		}
		select { // it said nothing: say how it ended
		case err := <-s.exited:
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("worker pid %d ended before it was ready: %w", s.PID, err)
		case <-time.After(time.Second):
			return fmt.Errorf("worker pid %d closed its output before it was ready", s.PID)
		}
	case <-ctx.Done():
		return fmt.Errorf("worker pid %d: %w", s.PID, context.Cause(ctx))
	}
}
