package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/examples/demo"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/ledger"
)

func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start and stop the bundled demo storefront (a frontend and three backends on loopback)",
	}
	var frontendPort, firstBackend, backends int
	var noRetry bool
	up := &cobra.Command{
		Use:   "up",
		Short: "Start the storefront in the background (pids and logs under the state directory)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demoUp(cmd, frontendPort, firstBackend, backends, noRetry)
		},
	}
	up.Flags().IntVar(&frontendPort, "port", 8080, "storefront port on 127.0.0.1")
	up.Flags().IntVar(&firstBackend, "backend-port", 9001, "first backend port (the others follow)")
	up.Flags().IntVar(&backends, "backends", 3, "number of backends")
	up.Flags().BoolVar(&noRetry, "no-retry", false, "resilience off: do not retry on another backend")
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the storefront started by demo up",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return demoDown(cmd) },
	}
	var addr, backendList string
	serve := &cobra.Command{
		Use:    "serve frontend|backend",
		Short:  "Run one demo server in the foreground",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("demo %s: %w", args[0], err)
			}
			switch args[0] {
			case "frontend":
				return demo.Frontend(ctx, l, demo.FrontendOptions{Backends: strings.Split(backendList, ","), Retry: !noRetry})
			case "backend":
				return demo.Backend(ctx, l, "backend "+addr)
			}
			return usageError(fmt.Errorf("demo serve %q: want frontend or backend", args[0]))
		},
	}
	serve.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	serve.Flags().StringVar(&backendList, "backends", "", "backend addresses, comma-separated (frontend)")
	serve.Flags().BoolVar(&noRetry, "no-retry", false, "do not retry on another backend (frontend)")
	cmd.AddCommand(up, down, serve, newDemoShopCmd())
	return cmd
}

func demoDir() string { return filepath.Join(ledger.StateDir(), "demo") }

func demoUp(cmd *cobra.Command, port, firstBackend, n int, noRetry bool) error {
	dir := demoDir()
	if pids, _ := filepath.Glob(filepath.Join(dir, "*.pid")); len(pids) > 0 {
		return fmt.Errorf("the demo seems to be running already (%s); run `faultline demo down` first", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo up: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo up: %w", err)
	}
	var addrs []string
	for i := 0; i < n; i++ {
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", firstBackend+i))
	}
	type proc struct {
		name, addr string
		args       []string
	}
	procs := []proc{}
	for i, a := range addrs {
		procs = append(procs, proc{fmt.Sprintf("backend-%d", i+1), a, []string{"demo", "serve", "backend", "--addr", a}})
	}
	front := fmt.Sprintf("127.0.0.1:%d", port)
	fargs := []string{"demo", "serve", "frontend", "--addr", front, "--backends", strings.Join(addrs, ",")}
	if noRetry {
		fargs = append(fargs, "--no-retry")
	}
	procs = append(procs, proc{"frontend", front, fargs})
	for _, p := range procs {
		if err := startDetached(self, dir, p.name, p.args); err != nil {
			demoDown(cmd)
			return fmt.Errorf("demo up: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
	defer cancel()
	for _, p := range procs {
		if err := waitListening(ctx, p.addr); err != nil {
			demoDown(cmd)
			return fmt.Errorf("demo up: %s on %s did not start (see %s): %w", p.name, p.addr, filepath.Join(dir, p.name+".log"), err)
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "storefront on http://%s/ with %d backends on %s (logs in %s)\n", front, n, strings.Join(addrs, ", "), dir)
	return nil
}

func waitListening(ctx context.Context, addr string) error {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// demoDown ends the processes demo up started, by their recorded pid and
// start time, so an unrelated process that reused a pid is never touched.
func demoDown(cmd *cobra.Command) error {
	files, _ := filepath.Glob(filepath.Join(demoDir(), "*.pid"))
	var errs []error
	for _, f := range files {
		if err := stopPidfile(f); err != nil {
			errs = append(errs, err)
		}
	}
	if len(files) > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "demo stopped (%d processes)\n", len(files))
	}
	return errors.Join(errs...)
}

// startDetached starts self with args in a session of its own (so that a
// fault on its process group hits it alone), its output appended to
// dir/name.log (a restarted process keeps its predecessor's last words),
// and records it in dir/name.pid as "pid starttime": a
// process is named by both, so a reused pid is never taken for it.
func startDetached(self, dir, name string, args []string) error {
	logf, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	c := exec.Command(self, args...)
	c.Stdout, c.Stderr = logf, logf
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = c.Start()
	logf.Close()
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	defer c.Process.Release()
	st, _ := procfs.ReadStat(c.Process.Pid)
	pidfile := fmt.Sprintf("%d %d\n", c.Process.Pid, st.StartTime)
	if err := os.WriteFile(filepath.Join(dir, name+".pid"), []byte(pidfile), 0o644); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	return nil
}

// readPidfile reads a pidfile startDetached wrote; ok is false when it
// does not hold a pid and start time.
func readPidfile(path string) (pid int, start uint64, ok bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false, err
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0, 0, false, nil
	}
	pid, err1 := strconv.Atoi(fields[0])
	start, err2 := strconv.ParseUint(fields[1], 10, 64)
	return pid, start, err1 == nil && err2 == nil, nil
}

// stopPidfile ends the process a pidfile names if it is still that
// process (pid and start time): SIGCONT (a paused process cannot exit),
// SIGTERM, and SIGKILL if it is still there 2s later. It removes the
// pidfile.
func stopPidfile(path string) error {
	pid, start, ok, err := readPidfile(path)
	if err != nil {
		return err
	}
	if ok && procfs.Alive(pid, start) {
		syscall.Kill(pid, syscall.SIGCONT)
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			return fmt.Errorf("stop pid %d: %w", pid, err)
		}
		for i := 0; i < 100 && procfs.Alive(pid, start); i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if procfs.Alive(pid, start) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	os.Remove(path)
	return nil
}
