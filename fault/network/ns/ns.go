// Package ns opens and enters Linux network namespaces for the network
// faults: a throwaway namespace to probe what the kernel can do, a
// function run inside a namespace on a locked thread (to start a worker
// process there), and every namespace on the host (to find what a fault
// left behind when the namespace it was given is no longer reachable by
// its name or process).
//
// A namespace is an open file (its nsfs inode); nil means the calling
// process's own namespace.
package ns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread switched into the namespace f (nil: the
// current one, with no switch). A process started by fn (exec.Cmd.Start)
// is born in that namespace. If the thread cannot be switched back, it is
// left locked so the Go runtime discards it rather than reusing it.
func Do(f *os.File, fn func() error) error {
	if f == nil {
		return fn()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open the current network namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(netns.NsHandle(f.Fd())); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace: %w", err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		// Tainted thread: stays locked, the runtime ends it with the goroutine.
		return errors.Join(fnErr, fmt.Errorf("return to the original network namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// New makes a fresh, empty network namespace that lives as long as the
// returned file is open. Only its loopback interface exists (down).
func New() (*os.File, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("open the current network namespace: %w", err)
	}
	defer orig.Close()
	h, err := netns.New() // unshares this thread only, and switches it
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("create a network namespace: %w", err)
	}
	f := os.NewFile(uintptr(h), "netns")
	if err := netns.Set(orig); err != nil {
		f.Close()
		return nil, fmt.Errorf("return to the original network namespace: %w", err) // thread stays locked: discarded
	}
	runtime.UnlockOSThread()
	return f, nil
}

// ID is a namespace's identity: the device and inode of its nsfs file.
type ID struct{ Dev, Ino uint64 }

func (id ID) String() string { return "net:[" + strconv.FormatUint(id.Ino, 10) + "]" }

// IDOf identifies the namespace f (nil: this process's).
func IDOf(f *os.File) (ID, error) {
	var st unix.Stat_t
	var err error
	if f == nil {
		err = unix.Stat("/proc/self/ns/net", &st)
	} else {
		err = unix.Fstat(int(f.Fd()), &st)
	}
	if err != nil {
		return ID{}, fmt.Errorf("identify network namespace: %w", err)
	}
	return ID{Dev: uint64(st.Dev), Ino: st.Ino}, nil
}

// All opens every network namespace reachable on this host, once each:
// those of running processes (/proc/*/ns/net) and those bound by name
// (netnsDir, as /run/netns). Namespaces that cannot be opened (a process
// that exited meanwhile) are skipped. The caller closes the files.
func All(procRoot, netnsDir string) ([]*os.File, error) {
	var paths []string
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			paths = append(paths, filepath.Join(procRoot, e.Name(), "ns", "net"))
		}
	}
	if named, err := os.ReadDir(netnsDir); err == nil {
		for _, e := range named {
			paths = append(paths, filepath.Join(netnsDir, e.Name()))
		}
	}
	seen := map[ID]bool{}
	var out []*os.File
	for _, p := range paths {
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil {
			continue
		}
		id := ID{Dev: uint64(st.Dev), Ino: st.Ino}
		if seen[id] {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if got, err := IDOf(f); err != nil || got != id {
			f.Close() // replaced meanwhile: it is found by its new path or not at all
			continue
		}
		seen[id] = true
		out = append(out, f)
	}
	return out, nil
}
