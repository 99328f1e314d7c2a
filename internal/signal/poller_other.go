//go:build !linux

package signal

import "errors"

// poller is Linux's epoll (poller_linux.go). Elsewhere newPoller fails and
// each peer keeps a goroutine parked in a read, which works the same and
// costs more memory a connection.
type poller struct{}

func newPoller() (*poller, error) { return nil, errors.New("no epoll on this system") }

func (*poller) start(func(*peer))         {}
func (*poller) add(*peer) error           { return errors.New("no epoll on this system") }
func (*poller) rearm(*peer) (bool, error) { return false, nil }
func (*poller) remove(*peer)              {}
func (*poller) close()                    {}
