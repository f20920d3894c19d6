// Command server benchmarks the control plane on one machine: it starts
// `faultline server` as a child process, simulates thousands of agents in
// this process — each registers, then long-polls with its heartbeat and
// one open fault — plus a few busy agents that stream run events, and
// measures while they run:
//
//   - the API's latency (reads and a validation) and the busy agents' poll
//     latency (events in, answer out);
//   - the server's CPU (user+system from /proc) and memory;
//   - after POST /api/v1/halt, how long until every agent was told and
//     until the server's records show every fault recovered.
//
// Run it with go run ./bench/server [-agents 2000] [-steady 60s]; it
// prints a Markdown summary. Traffic stays on 127.0.0.1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type config struct {
	faultline string
	agents    int
	busy      int
	steady    time.Duration
	pollWait  time.Duration
	lease     time.Duration
	apiRate   int
	db        string
	recover   time.Duration
	halts     int
}

func main() {
	var c config
	flag.StringVar(&c.faultline, "faultline", "", "the faultline binary (default: go build ./cmd/faultline into a temporary directory)")
	flag.IntVar(&c.agents, "agents", 2000, "simulated idle agents, long-polling")
	flag.IntVar(&c.busy, "busy", 20, "simulated busy agents streaming run events")
	flag.DurationVar(&c.steady, "steady", 60*time.Second, "how long to measure once every agent is registered")
	flag.DurationVar(&c.pollWait, "poll-wait", 10*time.Second, "the server's --poll-wait")
	flag.DurationVar(&c.lease, "lease", 30*time.Second, "the server's --lease")
	flag.IntVar(&c.apiRate, "api-rate", 20, "API requests per second while measuring")
	flag.StringVar(&c.db, "db", "", "the server's --db (default SQLite in the temporary directory)")
	flag.IntVar(&c.halts, "halts", 3, "halt-all rounds (every agent opens its fault and the busy run starts again between rounds)")
	flag.DurationVar(&c.recover, "recover-for", 0, "how long an agent told to halt all takes to recover before it reports (0: reports at once, all together)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, log); err != nil {
		log.Error("benchmark failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, log *slog.Logger) error {
	if c.agents < 1 || c.busy < 1 || c.halts < 1 {
		return errors.New("-agents, -busy and -halts must be at least 1")
	}
	dir, err := os.MkdirTemp("", "faultline-bench-server-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := c.faultline
	if bin == "" {
		if bin, err = build(ctx, dir); err != nil {
			return err
		}
	}
	srv, err := startServer(ctx, bin, dir, c)
	if err != nil {
		return err
	}
	defer srv.stop()
	log.Info("server started", "url", srv.url, "pid", srv.pid())
	api := newClient(srv.url, adminToken, c.agents+c.busy+64)
	b := &bench{c: c, log: log, api: api, srv: srv, started: time.Now(), load: loadAvg()}
	return b.run(ctx)
}

// bench is one run of the benchmark.
type bench struct {
	c       config
	log     *slog.Logger
	api     *client
	srv     *serverProcess
	started time.Time
	load    string
}

func (b *bench) run(ctx context.Context) error {
	agentToken, err := b.api.newToken(ctx, "bench-agents", "agent")
	if err != nil {
		return err
	}
	fleet := newFleet(b.api.withToken(agentToken), b.c.agents, b.c.busy, b.c.recover, b.log)
	fctx, stopFleet := context.WithCancel(ctx)
	defer stopFleet()
	regStart := time.Now()
	done := fleet.start(fctx)
	if err := fleet.waitRegistered(ctx, 2*time.Minute); err != nil {
		return err
	}
	regTook := time.Since(regStart)
	b.log.Info("agents registered", "agents", b.c.agents+b.c.busy, "took", regTook.Round(time.Millisecond))

	// The busy agents get a long run each, and stream its events.
	if err := b.api.createExperiment(ctx, busyExperiment); err != nil {
		return err
	}
	run, err := b.api.startRun(ctx, "bench-busy", map[string]string{"role": "busy"})
	if err != nil {
		return err
	}
	b.log.Info("busy run started", "run", run)
	time.Sleep(2 * b.c.pollWait) // every idle agent has polled since

	b.log.Info("measuring", "for", b.c.steady)
	cpu0, err := procCPU(b.srv.pid())
	if err != nil {
		return err
	}
	fleet.resetStats()
	t0 := time.Now()
	apiStats, err := b.api.measure(ctx, b.c.steady, b.c.apiRate, fleet.sampleIDs())
	if err != nil {
		return err
	}
	wall := time.Since(t0)
	cpu1, err := procCPU(b.srv.pid())
	if err != nil {
		return err
	}
	rss, _ := procRSS(b.srv.pid())
	polls, busyPolls := fleet.stats()
	listTook, err := b.api.timeListAgents(ctx)
	if err != nil {
		return err
	}

	var rounds []haltRound
	for i := range b.c.halts {
		if i > 0 {
			if err := b.again(ctx, fleet); err != nil {
				return err
			}
		}
		round, err := b.haltAll(ctx, fleet)
		if err != nil {
			return err
		}
		rounds = append(rounds, round)
		b.log.Info("halt-all", "round", i+1, "answered", round.answered, "lastTold", round.told.max, "cleared", round.cleared)
	}
	stopFleet()
	<-done

	r := result{
		c: b.c, load: b.load, regTook: regTook, wall: wall, cpu: (cpu1 - cpu0).Seconds() / wall.Seconds(), rss: rss,
		api: apiStats, polls: polls, busyPolls: busyPolls, listAgents: listTook, halts: rounds, loadAfter: loadAvg(),
	}
	r.print(os.Stdout)
	return nil
}

// haltRound is what one halt-all measured.
type haltRound struct {
	answered time.Duration // POST /api/v1/halt
	told     told
	cleared  time.Duration // until the server's records show no open fault
}

func (b *bench) haltAll(ctx context.Context, f *fleet) (haltRound, error) {
	var r haltRound
	pressed := time.Now()
	if err := b.api.haltAll(ctx); err != nil {
		return r, err
	}
	r.answered = time.Since(pressed)
	var err error
	if r.told, err = f.waitTold(ctx, pressed, time.Minute); err != nil {
		return r, err
	}
	r.cleared, err = b.api.waitNoOpenFaults(ctx, pressed, time.Minute)
	return r, err
}

// again sets the scene of a halt-all round: every agent holds its fault
// again and the busy agents run a new assignment.
func (b *bench) again(ctx context.Context, f *fleet) error {
	f.reopen()
	if _, err := b.api.startRun(ctx, "bench-busy", map[string]string{"role": "busy"}); err != nil {
		return err
	}
	if err := b.api.waitOpenFaults(ctx, len(f.agents), 2*b.c.pollWait+10*time.Second); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // the busy agents stream again
	return nil
}

// busyExperiment is what the busy agents "run": the simulation never runs
// it, it only needs to validate on the server.
const busyExperiment = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: bench-busy
spec:
  method:
    - name: hold
      wait: 1h
`

// adminToken seeds the benchmark server.
const adminToken = "fl_bench-admin"

func build(ctx context.Context, dir string) (string, error) {
	bin := dir + "/faultline"
	out, err := runCommand(ctx, "go", "build", "-o", bin, "./cmd/faultline")
	if err != nil {
		return "", fmt.Errorf("build faultline (run from the repository root, or give -faultline): %w\n%s", err, out)
	}
	return bin, nil
}
