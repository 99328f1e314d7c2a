// Command testapp is the process of Airlock's test image: it says it is
// ready, then waits for SIGTERM or SIGINT and exits 0, like a well-behaved
// workspace process. It is built static and shipped FROM scratch.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("airlock testapp ready")
	s := <-sig
	fmt.Printf("airlock testapp stopping on %v\n", s)
}
