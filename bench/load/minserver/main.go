// Command minserver is the cheap target of the load generator benchmarks:
// an HTTP/1.1 responder that reads each connection in a plain loop and
// answers every request it finds there with the same fixed "200 OK, ok"
// answer, without parsing it. With net/http as the target (bench/load/server)
// the server's own CPU dominates on a small machine and hides how much the
// load generators cost; this one costs little besides the system calls.
//
// A request is taken to end at its blank line ("\r\n\r\n"): it serves GET
// and HEAD without bodies, as the benchmarks send, and nothing else. The
// answers to all the requests found in one read go out in one write.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/faultline-dev/faultline/bench/internal/loopback"
)

const answer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (loopback only)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr); err != nil {
		log.Error("minserver", "err", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	ln, err := loopback.Listen(addr)
	if err != nil {
		return err
	}
	// The address on stdout is how the benchmark script finds the port.
	fmt.Println(ln.Addr().String())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		go serve(c)
	}
}

// serve answers the requests on c until the client closes it.
func serve(c net.Conn) {
	defer c.Close()
	in := make([]byte, 16<<10)
	var out []byte
	// tail is how much of "\r\n\r\n" the previous read ended with, so a
	// blank line split between two reads is found.
	tail := 0
	for {
		n, err := c.Read(in)
		if err != nil {
			return
		}
		out = out[:0]
		for _, b := range in[:n] {
			switch {
			case b == "\r\n\r\n"[tail]:
				tail++
			case b == '\r':
				tail = 1
			default:
				tail = 0
			}
			if tail == 4 {
				out = append(out, answer...)
				tail = 0
			}
		}
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}
}
