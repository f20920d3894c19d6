package network_test

import (
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

// rtts measures n sequential UDP round trips on c (an echo), each bounded
// by timeout; lost ones are left out.
func rtts(t *testing.T, c *net.UDPConn, n int, timeout time.Duration) []time.Duration {
	t.Helper()
	var out []time.Duration
	buf := make([]byte, 64)
	for i := range n {
		msg := binary.BigEndian.AppendUint64(nil, uint64(i))
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(start.Add(timeout))
		for {
			k, err := c.Read(buf)
			if err != nil {
				break // lost
			}
			if k == 8 && binary.BigEndian.Uint64(buf) == uint64(i) {
				out = append(out, time.Since(start))
				break
			}
		}
	}
	return out
}

// echoPath starts a UDP echo on b and returns a's client to it, once a
// round trip has gone through: the links are up and b's address resolved
// before any fault is measured.
func echoPath(t *testing.T, l *lab) *net.UDPConn {
	t.Helper()
	udpEcho(t, l.nsB, l.addrB+":7")
	c := udpClient(t, l.nsA, l.addrB+":7")
	if len(rtts(t, c, 5, time.Second)) == 0 {
		t.Fatal("the lab's path from a to b carries nothing before any fault")
	}
	return c
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// echoStats sends n numbered datagrams of size bytes on c at about rate
// per second, then collects the echoes for a while, and reports how many
// distinct ones came back, how many copies beyond the first, and how many
// came back with a payload other than sent, and in how many runs of
// consecutive datagrams the missing ones went.
type echoStats struct{ sent, back, dups, damaged, lossRuns int }

func echoBurst(t *testing.T, c *net.UDPConn, n, size, rate int) echoStats {
	t.Helper()
	got := make([]int, n)
	damaged := 0
	done := make(chan struct{})
	// sent holds when the last datagram went out; echoes are collected
	// until a second after it. A slow start (a loaded machine) or an ICMP
	// error read from the connected socket does not end the collection.
	sent := make(chan time.Time, 1)
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		end := time.Time{}
		for {
			select {
			case at := <-sent:
				end = at.Add(time.Second)
			default:
			}
			deadline := time.Now().Add(time.Second)
			if !end.IsZero() {
				if time.Now().After(end) {
					return
				}
				deadline = end
			}
			c.SetReadDeadline(deadline)
			k, err := c.Read(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			if k != size {
				damaged++
				continue
			}
			i := int(binary.BigEndian.Uint32(buf))
			if i >= n || !slices.Equal(buf[4:k], pattern(i, size)[4:]) {
				damaged++
				continue
			}
			got[i]++
		}
	}()
	gap := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range n {
		if _, err := c.Write(pattern(i, size)); err != nil {
			t.Fatal(err)
		}
		if d := time.Until(start.Add(time.Duration(i+1) * gap)); d > 0 {
			time.Sleep(d)
		}
	}
	sent <- time.Now()
	<-done
	s := echoStats{sent: n, damaged: damaged}
	for i, k := range got {
		if k > 0 {
			s.back++
			s.dups += k - 1
		} else if i == 0 || got[i-1] > 0 {
			s.lossRuns++
		}
	}
	return s
}

// pattern is datagram i: its number, then bytes derived from it.
func pattern(i, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, uint32(i))
	for j := 4; j < size; j++ {
		b[j] = byte(i*31 + j)
	}
	return b
}

// within fails unless got is within tol of want.
func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if got < want-tol || got > want+tol {
		t.Errorf("%s: %.4g, want %.4g ± %.3g", what, got, want, tol)
	} else {
		t.Logf("%s: %.4g (want %.4g ± %.3g)", what, got, want, tol)
	}
}
