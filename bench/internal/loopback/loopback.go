// Package loopback is the listener of the benchmarks' servers: they listen
// on loopback only, as every benchmark's traffic stays on 127.0.0.0/8.
package loopback

import (
	"fmt"
	"net"
)

// Listen listens on addr, a TCP address that must be a loopback one.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("%s is not a loopback address: benchmarks stay on 127.0.0.0/8", addr)
	}
	return ln, nil
}
