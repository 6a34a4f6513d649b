package framework

import (
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The DNS server does what cert-manager's RFC2136 provider and Pebble
// need: signed updates add and remove TXT values (several per name),
// unsigned or wrongly signed ones are refused, SOA answers at the apex
// only, and every name resolves to 127.0.0.1.
func TestDNSServer(t *testing.T) {
	const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="
	server, err := StartDNSServer(t.Context(), DNSServerConfig{Zones: []string{"acme.test"}, TSIGKey: "key.", TSIGSecret: secret})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, server.Close()) })

	exchange := func(t *testing.T, m *dns.Msg, net string, tsigSecret string) *dns.Msg {
		t.Helper()
		c := &dns.Client{Net: net, Timeout: 5 * time.Second}
		if tsigSecret != "" {
			c.TsigSecret = map[string]string{"key.": tsigSecret}
			m.SetTsig("key.", dns.HmacSHA256, 300, time.Now().Unix())
		}
		reply, _, err := c.Exchange(m, server.Addr())
		require.NoError(t, err)
		return reply
	}
	update := func(t *testing.T, class uint16, value, tsigSecret string) int {
		t.Helper()
		m := new(dns.Msg)
		m.SetUpdate("acme.test.")
		rr := &dns.TXT{Hdr: dns.RR_Header{Name: "_acme-challenge.a.acme.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{value}}
		if class == dns.ClassNONE {
			m.Remove([]dns.RR{rr})
		} else {
			m.Insert([]dns.RR{rr})
		}
		return exchange(t, m, "udp", tsigSecret).Rcode
	}
	txt := func(t *testing.T) []string {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion("_acme-challenge.a.acme.test.", dns.TypeTXT)
		var values []string
		for _, rr := range exchange(t, m, "tcp", "").Answer {
			values = append(values, rr.(*dns.TXT).Txt...)
		}
		return values
	}

	require.Equal(t, dns.RcodeSuccess, update(t, dns.ClassINET, "one", secret))
	require.Equal(t, dns.RcodeSuccess, update(t, dns.ClassINET, "two", secret))
	assert.ElementsMatch(t, []string{"one", "two"}, txt(t), "a wildcard and its base name share one TXT name")
	assert.ElementsMatch(t, []string{"one", "two"}, server.TXT("_acme-challenge.a.acme.test"))
	require.Equal(t, dns.RcodeSuccess, update(t, dns.ClassNONE, "one", secret))
	assert.Equal(t, []string{"two"}, txt(t))

	assert.Equal(t, dns.RcodeNotAuth, update(t, dns.ClassINET, "unsigned", ""))
	assert.NotEqual(t, dns.RcodeSuccess, update(t, dns.ClassINET, "badly-signed", "b3RoZXItc2VjcmV0"))
	assert.Equal(t, []string{"two"}, txt(t), "refused updates change nothing")

	soa := func(name string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeSOA)
		return exchange(t, m, "udp", "")
	}
	apex := soa("acme.test.")
	require.Len(t, apex.Answer, 1)
	assert.Equal(t, "acme.test.", apex.Answer[0].Header().Name)
	assert.True(t, apex.Authoritative)
	below := soa("_acme-challenge.a.acme.test.")
	assert.Empty(t, below.Answer, "no SOA below the apex, so a zone lookup climbs to it")
	assert.Equal(t, dns.RcodeSuccess, below.Rcode)

	m := new(dns.Msg)
	m.SetQuestion("web.acme.test.", dns.TypeA)
	a := exchange(t, m, "tcp", "")
	require.Len(t, a.Answer, 1)
	assert.Equal(t, "127.0.0.1", a.Answer[0].(*dns.A).A.String())
	m.SetQuestion("web.other.test.", dns.TypeA)
	assert.Equal(t, dns.RcodeRefused, exchange(t, m, "udp", "").Rcode, "names outside the zone are not answered")
}
