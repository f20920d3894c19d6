package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// result is what one run measured.
type result struct {
	c               config
	load, loadAfter string
	regTook, wall   time.Duration
	cpu             float64 // cores
	rss             int64
	api             map[string][]time.Duration
	polls           int64
	busyPolls       []time.Duration
	listAgents      time.Duration
	halts           []haltRound
}

// pct is the p-th percentile of sorted durations (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func (r result) print(w io.Writer) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "## control plane benchmark (%s, %d CPUs, %s, load average %s before, %s after)\n\n",
		host, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02 15:04 UTC"), r.load, r.loadAfter)
	fmt.Fprintf(w, "%d idle agents long-polling (--poll-wait %s, --lease %s) with one open fault each, %d busy agents streaming 5 events per poll twice a second, %d API requests/s; %d agents registered in %s; measured for %s. Told to halt all, an agent reports its fault recovered %s later.\n\n",
		r.c.agents, r.c.pollWait, r.c.lease, r.c.busy, r.c.apiRate, r.c.agents+r.c.busy, r.regTook.Round(time.Millisecond), r.wall.Round(time.Second), r.c.recover)
	fmt.Fprintln(w, "| measure | p50 | p99 | max | count |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
	var all []time.Duration
	names := make([]string, 0, len(r.api))
	for name := range r.api {
		names = append(names, name)
	}
	slices.Sort(names)
	row := func(name string, ds []time.Duration) {
		slices.Sort(ds)
		if len(ds) == 0 {
			return
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d |\n", name, ms(pct(ds, 50)), ms(pct(ds, 99)), ms(ds[len(ds)-1]), len(ds))
	}
	for _, name := range names {
		all = append(all, r.api[name]...)
		row("`"+name+"`", r.api[name])
	}
	row("**every API request above**", all)
	row("busy agent's poll (5 events in, answer out)", r.busyPolls)
	fmt.Fprintf(w, "\n| figure | value |\n| --- | --- |\n")
	fmt.Fprintf(w, "| polls answered | %d (%.0f/s) |\n", r.polls, float64(r.polls)/r.wall.Seconds())
	fmt.Fprintf(w, "| server CPU (user+system) | %.0f%% of one core (%.2f of %d cores) |\n", r.cpu*100, r.cpu, runtime.NumCPU())
	fmt.Fprintf(w, "| server RSS | %.0f MiB |\n", float64(r.rss)/(1<<20))
	fmt.Fprintf(w, "| `GET /api/v1/agents` (all %d) | %s |\n", r.c.agents+r.c.busy, ms(r.listAgents))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| halt-all round | `POST /api/v1/halt` answered | long-polling agents told: p50 / p99 / last | last busy agent told (it polls every 0.5 s) | the server's records show every fault recovered |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
	for i, h := range r.halts {
		fmt.Fprintf(w, "| %d | %s | %s / %s / %s | %s | %s |\n", i+1, ms(h.answered), ms(h.told.p50), ms(h.told.p99), ms(h.told.max), ms(h.told.busyMax), ms(h.cleared))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Command: go run ./bench/server "+strings.Join(os.Args[1:], " "))
}
