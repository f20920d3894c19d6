// Command latency measures HTTP request latency the way the fault proxy
// benchmark needs it: c connections, each sending one request at a time,
// at most one every interval, starting at random moments of the first
// interval so that requests do not come in bursts (a run without a latency
// toxic then sends at the same pace as one with a 50ms toxic, and the
// difference is what the toxic adds). It prints the count, p50 and p99 in
// milliseconds.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	target := flag.String("url", "", "URL to GET (a loopback address)")
	conns := flag.Int("c", 32, "connections")
	duration := flag.Duration("d", 5*time.Second, "how long to send")
	interval := flag.Duration("interval", 50*time.Millisecond, "least time between the starts of a connection's requests")
	flag.Parse()
	if err := run(*target, *conns, *duration, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(1)
	}
}

func run(target string, conns int, duration, interval time.Duration) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not on a loopback address: benchmarks stay on 127.0.0.0/8", target)
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var (
		mu   sync.Mutex
		all  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	for range conns {
		wg.Go(func() {
			// One connection per worker, kept alive.
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
			var mine []time.Duration
			select {
			case <-ctx.Done():
			case <-time.After(rand.N(interval)):
			}
			for ctx.Err() == nil {
				start := time.Now()
				resp, err := hc.Get(target)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(start))
				select {
				case <-ctx.Done():
				case <-time.After(time.Until(start.Add(interval))):
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d requests failed, the first: %w", len(errs), errs[0])
	}
	if len(all) == 0 {
		return fmt.Errorf("no request completed in %s", duration)
	}
	slices.Sort(all)
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / 1e6 }
	fmt.Printf("%d %.3f %.3f\n", len(all), q(0.50), q(0.99))
	return nil
}
