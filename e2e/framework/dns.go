package framework

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DNSServer is the authoritative name server of the ACME stack's test zones,
// and the resolver both Pebble and cert-manager are pointed at. It answers
// SOA and NS at each zone's apex, an A record of 127.0.0.1 for every name in
// a zone (nothing runs anywhere else), and the TXT records cert-manager's
// RFC2136 provider writes with dynamic updates (RFC 2136), signed with TSIG
// when a key is configured. A name keeps several TXT values at once, as a
// wildcard and its base name share one _acme-challenge name. It binds
// 127.0.0.1 only, on one port for UDP and TCP.
type DNSServer struct {
	zones   []string
	tsigKey string

	mu  sync.Mutex
	txt map[string][]string

	addr    string
	servers []*dns.Server
}

// DNSServerConfig says which zones the server is authoritative for, and the
// TSIG key (name and base64 secret, HMAC-SHA256) updates must be signed
// with; without a key, updates are accepted unsigned.
type DNSServerConfig struct {
	Zones      []string
	TSIGKey    string
	TSIGSecret string
}

// StartDNSServer serves cfg's zones on a free port of 127.0.0.1 until Close.
func StartDNSServer(ctx context.Context, cfg DNSServerConfig) (*DNSServer, error) {
	if len(cfg.Zones) == 0 {
		return nil, errors.New("the DNS server needs at least one zone")
	}
	s := &DNSServer{txt: map[string][]string{}}
	for _, zone := range cfg.Zones {
		s.zones = append(s.zones, dns.CanonicalName(zone))
	}
	var secrets map[string]string
	if cfg.TSIGKey != "" {
		s.tsigKey = dns.CanonicalName(cfg.TSIGKey)
		secrets = map[string]string{s.tsigKey: cfg.TSIGSecret}
	}

	// UDP first on a free port, then TCP on the same one; another process
	// may hold that TCP port, so try a few times.
	var lastErr error
	for range 10 {
		packetConn, err := (&net.ListenConfig{}).ListenPacket(ctx, "udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("failed to listen on UDP for DNS: %w", err)
		}
		addr := packetConn.LocalAddr().String()
		listener, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
		if err != nil {
			_ = packetConn.Close()
			lastErr = err
			continue
		}
		s.addr = addr
		s.servers = []*dns.Server{
			{PacketConn: packetConn, Handler: s, TsigSecret: secrets, MsgAcceptFunc: acceptUpdates},
			{Listener: listener, Handler: s, TsigSecret: secrets, MsgAcceptFunc: acceptUpdates},
		}
		for _, server := range s.servers {
			started := make(chan struct{})
			server.NotifyStartedFunc = func() { close(started) }
			go func() { _ = server.ActivateAndServe() }()
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				// Shutdown refuses a server that never started; close the
				// sockets themselves so nothing is left behind.
				_ = s.Close()
				_ = packetConn.Close()
				_ = listener.Close()
				return nil, errors.New("the DNS server did not start within 10s")
			}
		}
		return s, nil
	}
	return nil, fmt.Errorf("failed to find a port free for both UDP and TCP DNS: %w", lastErr)
}

// acceptUpdates lets RFC 2136 updates through, which miekg/dns's default
// answers with NOTIMP; everything else it judges as the default does.
func acceptUpdates(dh dns.Header) dns.MsgAcceptAction {
	const opcodeShift, opcodeMask = 11, 0xF
	if int(dh.Bits>>opcodeShift)&opcodeMask == dns.OpcodeUpdate {
		return dns.MsgAccept
	}
	return dns.DefaultMsgAcceptFunc(dh)
}

// Addr is the server's host:port.
func (s *DNSServer) Addr() string { return s.addr }

// TXT returns the TXT values name holds now.
func (s *DNSServer) TXT(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.txt[dns.CanonicalName(name)])
}

// Close stops serving.
func (s *DNSServer) Close() error {
	var errs []error
	for _, server := range s.servers {
		errs = append(errs, server.Shutdown())
	}
	return errors.Join(errs...)
}

// ServeDNS answers one query or update.
func (s *DNSServer) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	reply := new(dns.Msg)
	switch {
	case len(r.Question) != 1:
		reply.SetRcode(r, dns.RcodeFormatError)
	case r.Opcode == dns.OpcodeUpdate:
		reply.SetRcode(r, s.update(w, r))
	case r.Opcode == dns.OpcodeQuery:
		s.answer(reply, r)
	default:
		reply.SetRcode(r, dns.RcodeNotImplemented)
	}
	// Sign the reply to a signed request when there is a key to sign with.
	if tsig := r.IsTsig(); tsig != nil && s.tsigKey != "" && w.TsigStatus() == nil {
		reply.SetTsig(tsig.Hdr.Name, tsig.Algorithm, 300, time.Now().Unix())
	}
	_ = w.WriteMsg(reply)
}

func (s *DNSServer) zoneOf(name string) (string, bool) {
	for _, zone := range s.zones {
		if dns.IsSubDomain(zone, name) {
			return zone, true
		}
	}
	return "", false
}

func (s *DNSServer) answer(reply *dns.Msg, r *dns.Msg) {
	reply.SetReply(r)
	reply.Authoritative = true
	q := r.Question[0]
	name := dns.CanonicalName(q.Name)
	zone, ok := s.zoneOf(name)
	if !ok {
		reply.Rcode = dns.RcodeRefused
		return
	}
	header := func(rrtype uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: 60}
	}
	apex := name == zone
	switch q.Qtype {
	case dns.TypeSOA:
		if apex {
			reply.Answer = append(reply.Answer, s.soa(zone))
		}
	case dns.TypeNS:
		if apex {
			reply.Answer = append(reply.Answer, &dns.NS{Hdr: header(dns.TypeNS), Ns: "ns." + zone})
		}
	case dns.TypeA:
		if !strings.HasPrefix(name, "_acme-challenge.") {
			reply.Answer = append(reply.Answer, &dns.A{Hdr: header(dns.TypeA), A: net.IPv4(127, 0, 0, 1)})
		}
	case dns.TypeTXT:
		for _, value := range s.TXT(name) {
			reply.Answer = append(reply.Answer, &dns.TXT{Hdr: header(dns.TypeTXT), Txt: []string{value}})
		}
	}
	if len(reply.Answer) == 0 {
		// NODATA: the zone's SOA in the authority section, as resolvers
		// expect for negative caching.
		reply.Ns = append(reply.Ns, s.soa(zone))
	}
}

func (s *DNSServer) soa(zone string) dns.RR {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
		Ns:      "ns." + zone,
		Mbox:    "hostmaster." + zone,
		Serial:  1,
		Refresh: 60, Retry: 60, Expire: 600, Minttl: 60,
	}
}

// update applies an RFC 2136 update: the zone section names the zone, the
// update section adds RRs (class IN), deletes one RR (class NONE) or a whole
// RRset (class ANY). Only TXT records can be changed.
func (s *DNSServer) update(w dns.ResponseWriter, r *dns.Msg) int {
	if s.tsigKey != "" {
		tsig := r.IsTsig()
		if tsig == nil || dns.CanonicalName(tsig.Hdr.Name) != s.tsigKey || w.TsigStatus() != nil {
			return dns.RcodeNotAuth
		}
	}
	zone := dns.CanonicalName(r.Question[0].Name)
	if !slices.Contains(s.zones, zone) {
		return dns.RcodeNotZone
	}
	for _, rr := range r.Ns {
		h := rr.Header()
		if h.Class != dns.ClassINET && h.Class != dns.ClassNONE && h.Class != dns.ClassANY {
			return dns.RcodeFormatError
		}
		if h.Rrtype != dns.TypeTXT || !dns.IsSubDomain(zone, dns.CanonicalName(h.Name)) {
			return dns.RcodeRefused
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range r.Ns {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		// A delete without RDATA unpacks as a bare header, not a *dns.TXT.
		var values []string
		if txt, ok := rr.(*dns.TXT); ok {
			values = txt.Txt
		}
		switch h.Class {
		case dns.ClassANY:
			delete(s.txt, name)
		case dns.ClassNONE:
			for _, value := range values {
				s.txt[name] = slices.DeleteFunc(s.txt[name], func(v string) bool { return v == value })
			}
		case dns.ClassINET:
			for _, value := range values {
				if !slices.Contains(s.txt[name], value) {
					s.txt[name] = append(s.txt[name], value)
				}
			}
		}
	}
	return dns.RcodeSuccess
}
