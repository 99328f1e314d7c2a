// Command testapp is the process of Airlock's test image: it says it is
// ready, then waits for SIGTERM or SIGINT and exits 0, like a well-behaved
// workspace process. It is built static and shipped FROM scratch.
//
// Two more modes probe networks from inside a container, for the
// isolation tests: "serve PORT" answers every TCP connection with a line,
// and "dial ADDR..." connects to each address and prints what happened,
// one line each, before waiting like the default mode (an address can
// also be reached through an HTTP proxy, or be a name to resolve: see
// dial). "break" tries to
// get out of the container's limits (see breakOut) and reports how each
// attempt ended.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
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
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "sleep":
			time.Sleep(time.Hour)
			return
		case "eat":
			eat()
			return
		case "break":
			breakOut()
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
// connection that opens but says nothing is not a reached target. Two
// more forms go through what a hardened session is given:
// "connect/PROXY/TARGET" asks the HTTP proxy at PROXY to CONNECT to
// TARGET, and "lookup/NAME" resolves NAME with the container's resolver,
// answering "ok" and the addresses.
func dial(arg string) string {
	if name, ok := strings.CutPrefix(arg, "lookup/"); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupHost(ctx, name)
		if err != nil {
			return err.Error()
		}
		return "ok " + strings.Join(addrs, ",")
	}
	if rest, ok := strings.CutPrefix(arg, "connect/"); ok {
		proxy, target, _ := strings.Cut(rest, "/")
		return viaProxy(proxy, target)
	}
	c, err := net.DialTimeout("tcp", arg, 3*time.Second)
	if err != nil {
		return err.Error()
	}
	return banner(c)
}

// viaProxy tunnels to target through an HTTP CONNECT proxy.
func viaProxy(proxy, target string) string {
	c, err := net.DialTimeout("tcp", proxy, 3*time.Second)
	if err != nil {
		return "proxy: " + err.Error()
	}
	c.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return "proxy: " + err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		c.Close()
		return fmt.Sprintf("proxy refused: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return banner(&bufferedConn{Conn: c, r: br})
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// banner reads the first line of c and closes it.
func banner(c net.Conn) string {
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

// breakOut tries what a process that took over a session would: become
// root, write to the image, fork without end, and eat memory. Each line
// says how far it got.
func breakOut() {
	fmt.Printf("break uid: %d euid: %d\n", os.Getuid(), os.Geteuid())
	fmt.Printf("break setuid0: %v\n", syscall.Setuid(0))
	for _, path := range []string{"/airlock-was-here", "/etc/airlock-was-here"} {
		err := os.WriteFile(path, []byte("x"), 0o644)
		fmt.Printf("break write %s: %v\n", path, err)
	}
	var children []*exec.Cmd
	var forkErr error
	for range 10000 {
		c := exec.Command("/proc/self/exe", "sleep")
		if forkErr = c.Start(); forkErr != nil {
			break
		}
		children = append(children, c)
	}
	fmt.Printf("break forks: %d then %v\n", len(children), forkErr)
	for _, c := range children {
		c.Process.Kill()
		c.Wait()
	}
	c := exec.Command("/proc/self/exe", "eat")
	out, err := c.CombinedOutput()
	fmt.Printf("break eat: %v after %q\n", err, out)
	fmt.Println("break done")
}

// eat touches memory until the kernel stops it, printing each 16 MiB.
func eat() {
	var keep [][]byte
	for {
		b := make([]byte, 16<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		// Printing from keep is what keeps every chunk live.
		keep = append(keep, b)
		fmt.Printf("%d ", len(keep)*16)
	}
}
