// Command linked links the stress kinds but never calls
// stress.RunWorkerIfRequested: started as a worker, it must still act as
// one rather than run this main.
package main

import (
	"fmt"

	_ "github.com/faultline-dev/faultline/fault/stress"
)

func main() { fmt.Println("main ran") }
