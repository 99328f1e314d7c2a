package egress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// ReasonQueryType is the refusal of a DNS query of a type the session
// resolver does not answer (all but A and AAAA): TXT, MX, ANY, PTR and the
// rest would let a session move data through DNS to an upstream server.
const ReasonQueryType = "query_type"

// answerTTL is the TTL of every answer. It is short because the answer
// only lets a client of the session get as far as the proxy or the
// firewall; the proxy resolves the name again and checks what it connects
// to, so a stale answer cannot open anything.
const answerTTL = 5

// maxAnswers bounds the A records of one answer, which keeps it in a
// 512-byte UDP response.
const maxAnswers = 16

// DNS is the resolver a hardened session's queries are redirected to, in
// place of Docker's embedded one (which forwards from the host's
// namespace, CVE-2024-29018). It answers A queries only for names the
// session's policy allows on some port, with only the addresses it allows
// on some port; it sends a denied name upstream never. AAAA queries get an
// empty answer (sessions have no IPv6) and every other type is refused, so
// a session cannot carry data out through DNS beyond the names its policy
// already allows.
type DNS struct {
	o Options
	m *metrics
}

// NewDNS builds a resolver; see Options for the defaults (Dial and
// MaxConnsPerSession are the proxy's and are not used).
func NewDNS(o Options) (*DNS, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &DNS{o: o, m: m}, nil
}

// Serve answers queries on pc (UDP) and ln (TCP), either of which may be
// nil, until ctx ends; it then stops both and returns nil, or returns the
// first error that stopped one of them.
func (d *DNS) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	if pc == nil && ln == nil {
		return errors.New("egress dns: nothing to serve: both the packet conn and the listener are nil")
	}
	var servers []*dns.Server
	if pc != nil {
		servers = append(servers, &dns.Server{PacketConn: pc, Handler: d, UDPSize: dns.DefaultMsgSize})
	}
	if ln != nil {
		servers = append(servers, &dns.Server{Listener: ln, Handler: d})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i, s := range servers {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		served := make(chan struct{})
		wg.Go(func() {
			defer close(served)
			if err := s.ActivateAndServe(); err != nil && ctx.Err() == nil {
				errs[i] = err
				cancel() // one stopped: stop the other
			}
		})
		wg.Go(func() {
			// Shutdown refuses a server that has not started yet.
			select {
			case <-started:
			case <-served:
				return
			}
			<-ctx.Done()
			_ = s.Shutdown()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("egress dns: %w", err)
	}
	return nil
}

// ServeDNS answers one query (dns.Handler).
func (d *DNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	resp := d.answer(ctx, addrOf(w.RemoteAddr()), req)
	size := dns.MinMsgSize
	if _, tcp := w.RemoteAddr().(*net.TCPAddr); tcp {
		size = dns.MaxMsgSize
	} else if opt := req.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	if req.IsEdns0() != nil {
		resp.SetEdns0(uint16(min(size, dns.DefaultMsgSize)), false)
	}
	resp.Truncate(size)
	if err := w.WriteMsg(resp); err != nil {
		d.o.Logger.Debug("egress dns: writing the answer", "src", w.RemoteAddr(), "err", err)
	}
}

func (d *DNS) answer(ctx context.Context, src netip.Addr, req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.RecursionAvailable = true
	if len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		return resp
	}
	q := req.Question[0]
	qtype := "other"
	switch q.Qtype {
	case dns.TypeA:
		qtype = "A"
	case dns.TypeAAAA:
		qtype = "AAAA"
	}
	defer func() { d.m.dnsQueries.WithLabelValues(qtype, dns.RcodeToString[resp.Rcode]).Inc() }()

	sess, ref := lookup(ctx, d.o.Sessions, src)
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	refused := func(ref *Refusal) *dns.Msg {
		d.refused(sess.ID, src, q, ref)
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	if ref != nil {
		return refused(ref)
	}
	if q.Qclass != dns.ClassINET {
		return refused(refuse(ReasonQueryType, "%s: only class IN is answered, not %s", name, dns.ClassToString[q.Qclass]))
	}
	if qtype == "other" {
		return refused(refuse(ReasonQueryType, "%s: only A and AAAA queries are answered, not %s", name, dns.TypeToString[q.Qtype]))
	}
	if t, r := parseHost(name, 0, name); r != nil || t.addr.IsValid() {
		return refused(refuse(ReasonBadRequest, "%q is not a host name (letters, digits, hyphens and underscores, at most %d characters)", q.Name, maxNameLen))
	}
	if ref := sess.Policy.NameAllowedSomePort(name); ref != nil {
		return refused(ref)
	}
	if q.Qtype == dns.TypeAAAA {
		return resp // NOERROR, no records: sessions have no IPv6
	}

	addrs, err := d.o.Resolver.LookupNetIP(ctx, "ip4", name)
	if err != nil {
		if dnsErr, ok := errors.AsType[*net.DNSError](err); ok && dnsErr.IsNotFound {
			resp.Rcode = dns.RcodeNameError
			return resp
		}
		d.o.Logger.Info("egress dns: upstream lookup failed", "session", sess.ID, "src", src, "name", name, "err", err)
		resp.Rcode = dns.RcodeServerFailure
		return resp
	}
	var first *Refusal
	for _, a := range addrs {
		a = a.Unmap()
		if !a.Is4() {
			continue
		}
		if ref := sess.Policy.AddrAllowedSomePort(a); ref != nil {
			if first == nil {
				first = ref
			}
			continue
		}
		if len(resp.Answer) == maxAnswers {
			break
		}
		resp.Answer = append(resp.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: answerTTL},
			A:   a.AsSlice(),
		})
	}
	if len(resp.Answer) == 0 && first != nil {
		// NOERROR with no records rather than NXDOMAIN: the name exists and
		// is allowed, only its addresses are not, and an NXDOMAIN would be
		// a lie clients cache for every type of the name.
		d.refused(sess.ID, src, q, refuse(first.Reason, "%s resolves only to addresses the egress policy refuses: %s", name, first.Message))
	}
	return resp
}

func (d *DNS) refused(session string, src netip.Addr, q dns.Question, ref *Refusal) {
	d.m.refused.WithLabelValues(ref.Reason).Inc()
	level := slog.LevelInfo
	if ref.Reason == ReasonUnknownSession || ref.Reason == ReasonInvalidPolicy {
		level = slog.LevelWarn
	}
	d.o.Logger.Log(context.Background(), level, "egress dns: refused", "session", session, "src", src, "name", q.Name, "qtype", dns.TypeToString[q.Qtype], "reason", ref.Reason, "detail", ref.Message)
	d.o.OnRefused(airlock.NodeEvent{Time: time.Now(), Action: airlock.NodeEgressRefused, Target: "dns " + q.Name, Session: session,
		Client: addrString(src), Detail: fmt.Sprintf("DNS %s %s: %s (%s)", dns.TypeToString[q.Qtype], q.Name, ref.Message, ref.Reason)})
}
