package turn

import (
	"fmt"
	"net"
	"sync"

	"github.com/pion/turn/v4"
)

// relayGenerator hands out relay sockets from a port range, as pion's
// RelayAddressGeneratorPortRange does, and registers each with the
// tracker so the allocation it serves can be closed.
type relayGenerator struct {
	turn.RelayAddressGeneratorPortRange
	t *tracker
}

var _ turn.RelayAddressGenerator = (*relayGenerator)(nil)

func (g *relayGenerator) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.RelayAddressGeneratorPortRange.AllocatePacketConn(network, requestedPort)
	if err != nil {
		return nil, nil, err
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		_ = conn.Close() // never handed out
		return nil, nil, fmt.Errorf("turn: relay address %v is not UDP", addr)
	}
	rc := &relayConn{PacketConn: conn, port: ua.Port, t: g.t}
	g.t.addRelay(ua.Port, rc)
	return rc, addr, nil
}

// relayConn is a relay socket that leaves the tracker when closed.
type relayConn struct {
	net.PacketConn
	port int
	t    *tracker
	once sync.Once
}

func (c *relayConn) Close() error {
	c.once.Do(func() { c.t.removeRelay(c.port, c) })
	return c.PacketConn.Close()
}
