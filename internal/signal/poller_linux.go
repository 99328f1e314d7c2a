package signal

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// poller tells which idle peers' sockets became readable, so that an
// idle peer needs no goroutine parked in a read: that goroutine, with the
// stack a TLS read grows, was most of what an idle peer cost.
//
// Each socket is in the epoll set level-triggered and one-shot: one
// readiness wakes one read, which re-arms the socket when it is done.
// Level-triggered, so that data the read left in the kernel (it reads
// what the connection's buffers hold, then stops) is signalled again at
// once; one-shot, so that no second read starts while one runs.
//
// Go's own poller keeps the socket in its epoll set too; an fd may be in
// any number of sets, and reads go through Go's net.Conn as ever.
type poller struct {
	epfd int
	stop int // an eventfd that ends run

	mu    sync.Mutex
	peers map[int32]*peer // fd → its peer, while in the set
	done  chan struct{}   // closed when run returns
}

const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, stop, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(stop)}); err != nil {
		unix.Close(epfd)
		unix.Close(stop)
		return nil, fmt.Errorf("epoll_ctl add eventfd: %w", err)
	}
	pl := &poller{epfd: epfd, stop: stop, peers: make(map[int32]*peer), done: make(chan struct{})}
	return pl, nil
}

// start runs the wait loop, handing each readiness to ready.
func (pl *poller) start(ready func(*peer)) {
	go pl.run(ready)
}

func (pl *poller) run(ready func(*peer)) {
	defer close(pl.done)
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(pl.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// Not expected on a valid epoll fd; readers would wait for
			// ever, so it must be loud. Peers then end by their pings.
			panic(fmt.Sprintf("signal: epoll_wait: %v", err))
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(pl.stop) {
				return
			}
			pl.mu.Lock()
			p := pl.peers[ev.Fd]
			pl.mu.Unlock()
			if p != nil {
				ready(p)
			}
		}
	}
}

// add puts p's socket in the set, armed.
func (pl *poller) add(p *peer) error {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	fd := int32(p.c.fd)
	if err := unix.EpollCtl(pl.epfd, unix.EPOLL_CTL_ADD, p.c.fd, &unix.EpollEvent{Events: pollEvents, Fd: fd}); err != nil {
		return fmt.Errorf("epoll_ctl add fd %d: %w", fd, err)
	}
	pl.peers[fd] = p
	return nil
}

// rearm arms p's socket again after a read. It reports false when p is
// no longer in the set (remove ran: its connection is closing), so the
// caller ends p instead of waiting for a readiness that will not come.
func (pl *poller) rearm(p *peer) (bool, error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	fd := int32(p.c.fd)
	if pl.peers[fd] != p {
		return false, nil
	}
	if err := unix.EpollCtl(pl.epfd, unix.EPOLL_CTL_MOD, p.c.fd, &unix.EpollEvent{Events: pollEvents, Fd: fd}); err != nil {
		return false, fmt.Errorf("epoll_ctl mod fd %d: %w", fd, err)
	}
	return true, nil
}

// remove takes p's socket out of the set. It must come before the socket
// is closed: the kernel reuses a closed fd's number for the next
// connection, which must not be taken for p's.
func (pl *poller) remove(p *peer) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	fd := int32(p.c.fd)
	if pl.peers[fd] != p {
		return
	}
	delete(pl.peers, fd)
	// ENOENT and EBADF cannot happen while p is in the map; the socket
	// leaves the set when it is closed in any case.
	_ = unix.EpollCtl(pl.epfd, unix.EPOLL_CTL_DEL, p.c.fd, nil)
}

// close ends run and frees the set. The peers must be gone.
func (pl *poller) close() {
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	if _, err := unix.Write(pl.stop, one); err == nil {
		<-pl.done
	}
	unix.Close(pl.epfd)
	unix.Close(pl.stop)
}
