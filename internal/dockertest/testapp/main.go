// Command testapp is the process of Airlock's test image: it says it is
// ready, then waits for SIGTERM or SIGINT and exits 0, like a well-behaved
// workspace process. It is built static and shipped FROM scratch.
//
// Two more modes probe networks from inside a container, for the
// isolation tests: "serve PORT" answers every TCP connection with a line,
// and "dial ADDR..." connects to each address and prints what happened,
// one line each, before waiting like the default mode.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Banner is what "serve" writes to every connection.
const Banner = "airlock-probe"

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if len(os.Args) > 2 && os.Args[1] == "serve" {
		if err := serve(os.Args[2]); err != nil {
			fmt.Println("serve:", err)
			os.Exit(1)
		}
	}
	if len(os.Args) > 1 && os.Args[1] == "dial" {
		for _, a := range os.Args[2:] {
			fmt.Printf("dial %s: %s\n", a, dial(a))
		}
		fmt.Println("dial done")
	}
	fmt.Println("airlock testapp ready")
	s := <-sig
	fmt.Printf("airlock testapp stopping on %v\n", s)
}

func serve(port string) error {
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, Banner)
			c.Close()
		}
	}()
	return nil
}

// dial says "ok" only when the peer answered with the banner: a
// connection that opens but says nothing is not a reached target.
func dial(addr string) string {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "connected, no banner: " + err.Error()
	}
	if line != Banner+"\n" {
		return fmt.Sprintf("connected, answer %q", line)
	}
	return "ok"
}
