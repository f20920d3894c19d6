package main

// The fault kinds built into this binary: each registers itself.
import (
	_ "github.com/faultline-dev/faultline/fault/exec"
	_ "github.com/faultline-dev/faultline/fault/network"
	_ "github.com/faultline-dev/faultline/fault/process"
	_ "github.com/faultline-dev/faultline/fault/proxy"
	"github.com/faultline-dev/faultline/fault/stress"
)

// runWorkerIfRequested runs a fault's worker process when faultline was
// re-executed as one (stress workers), and reports whether it did.
func runWorkerIfRequested() bool { return stress.RunWorkerIfRequested() }
