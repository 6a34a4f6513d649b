package certs_test

import (
	"fmt"
	"strings"
	"testing"

	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

func TestParseNamespacePolicy(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		wantHosts   []string
		wantIssuers []string
		wantErr     string
	}{
		{name: "no annotation leaves both lists unset", wantHosts: nil, wantIssuers: nil},
		{
			name:        "an empty annotation is an empty list, which allows nothing",
			annotations: map[string]string{certs.AnnotationAllowedHosts: "", certs.AnnotationAllowedIssuers: " , "},
			wantHosts:   []string{}, wantIssuers: []string{},
		},
		{
			name:        "host patterns are lower-cased, trimmed and lose a trailing dot",
			annotations: map[string]string{certs.AnnotationAllowedHosts: " *.Team-A.example.com , shop.example.com., 10.0.0.1, 2001:DB8::1, *"},
			wantHosts:   []string{"*.team-a.example.com", "shop.example.com", "10.0.0.1", "2001:db8::1", "*"},
		},
		{
			name:        "issuer patterns name a kind, an optional group and a name or *",
			annotations: map[string]string{certs.AnnotationAllowedIssuers: "ClusterIssuer/letsencrypt, Issuer/*, AWSPCAClusterIssuer.awspca.cert-manager.io/pca, *"},
			wantIssuers: []string{"ClusterIssuer/letsencrypt", "Issuer/*", "AWSPCAClusterIssuer.awspca.cert-manager.io/pca", "*"},
		},
		{
			name:        "a star inside a label is refused",
			annotations: map[string]string{certs.AnnotationAllowedHosts: "shop*.example.com"},
			wantErr:     `meshcert.io/allowed-hosts: "shop*.example.com" has a "*" that is not the whole leftmost label`,
		},
		{
			name:        "a star below the leftmost label is refused",
			annotations: map[string]string{certs.AnnotationAllowedHosts: "*.*.example.com"},
			wantErr:     `"*.*.example.com" has a "*"`,
		},
		{
			name:        "a host pattern that is no DNS name is refused",
			annotations: map[string]string{certs.AnnotationAllowedHosts: "shop_example.com"},
			wantErr:     `"shop_example.com" is not a host pattern`,
		},
		{
			name:        "an issuer without a kind is refused, saying how to write it",
			annotations: map[string]string{certs.AnnotationAllowedIssuers: "letsencrypt"},
			wantErr:     `meshcert.io/allowed-issuers: "letsencrypt" names no kind; write "ClusterIssuer/letsencrypt"`,
		},
		{
			name:        "an issuer with an empty kind is refused",
			annotations: map[string]string{certs.AnnotationAllowedIssuers: ".cert-manager.io/ca"},
			wantErr:     "has no valid kind",
		},
		{
			name:        "an issuer name that is no object name is refused",
			annotations: map[string]string{certs.AnnotationAllowedIssuers: "ClusterIssuer/Let's Encrypt"},
			wantErr:     "has no valid issuer name",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := certs.ParseNamespacePolicy(tc.annotations)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantHosts, patternStrings(p.Hosts))
			assert.Equal(t, tc.wantIssuers, patternStrings(p.Issuers))
		})
	}
}

func patternStrings[P fmt.Stringer](patterns []P) []string {
	if patterns == nil {
		return nil
	}
	out := make([]string, len(patterns))
	for i, p := range patterns {
		out[i] = p.String()
	}
	return out
}

func TestHostPatternsAllow(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		host    string
		want    bool
	}{
		{"*.domain allows a name one label below", "*.example.com", "shop.example.com", true},
		{"*.domain allows a name several labels below", "*.example.com", "a.b.example.com", true},
		{"*.domain allows the wildcard of that domain", "*.example.com", "*.example.com", true},
		{"*.domain allows a wildcard further below", "*.example.com", "*.team.example.com", true},
		{"*.domain does not allow the domain itself", "*.example.com", "example.com", false},
		{"*.domain does not allow a name merely ending in its text", "*.example.com", "badexample.com", false},
		{"*.domain does not allow the domain inside another", "*.example.com", "example.com.evil.org", false},
		{"an exact name allows itself", "shop.example.com", "shop.example.com", true},
		{"an exact name does not allow a name below it", "shop.example.com", "www.shop.example.com", false},
		{"an exact name does not allow the wildcard over it", "shop.example.com", "*.example.com", false},
		{"* allows every name", "*", "anything.example.org", true},
		{"* allows the catch-all", "*", "*", true},
		{"an IPv6 pattern allows the address however it is written", "2001:db8::1", "2001:db8:0:0::1", true},
		{"an IP pattern does not allow another address", "10.0.0.1", "10.0.0.2", false},
		{"a DNS pattern does not allow an IP", "*.example.com", "10.0.0.1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := certs.ParseNamespacePolicy(map[string]string{certs.AnnotationAllowedHosts: tc.pattern})
			require.NoError(t, err)
			require.Len(t, p.Hosts, 1)
			assert.Equal(t, tc.want, p.Hosts[0].AllowsHost(tc.host))
		})
	}
}

func TestIssuerPatternsAllow(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		ref     cmmeta.IssuerReference
		want    bool
	}{
		{"a ClusterIssuer entry allows that ClusterIssuer", "ClusterIssuer/letsencrypt", cmmeta.IssuerReference{Name: "letsencrypt", Kind: "ClusterIssuer", Group: "cert-manager.io"}, true},
		{"an empty group is cert-manager's", "ClusterIssuer/letsencrypt", cmmeta.IssuerReference{Name: "letsencrypt", Kind: "ClusterIssuer"}, true},
		{"a ClusterIssuer entry does not allow an Issuer of that name", "ClusterIssuer/letsencrypt", cmmeta.IssuerReference{Name: "letsencrypt", Kind: "Issuer"}, false},
		{"an empty kind is an Issuer, as cert-manager reads it", "Issuer/ca", cmmeta.IssuerReference{Name: "ca"}, true},
		{"a ClusterIssuer entry does not allow another ClusterIssuer", "ClusterIssuer/letsencrypt", cmmeta.IssuerReference{Name: "letsencrypt-staging", Kind: "ClusterIssuer"}, false},
		{"kind/* allows every issuer of the kind", "ClusterIssuer/*", cmmeta.IssuerReference{Name: "any", Kind: "ClusterIssuer"}, true},
		{"kind/* does not allow another kind", "Issuer/*", cmmeta.IssuerReference{Name: "any", Kind: "ClusterIssuer"}, false},
		{"an external issuer is matched with its group", "AWSPCAClusterIssuer.awspca.cert-manager.io/pca", cmmeta.IssuerReference{Name: "pca", Kind: "AWSPCAClusterIssuer", Group: "awspca.cert-manager.io"}, true},
		{"an external issuer entry does not allow the same kind in another group", "AWSPCAClusterIssuer.awspca.cert-manager.io/pca", cmmeta.IssuerReference{Name: "pca", Kind: "AWSPCAClusterIssuer", Group: "evil.example.com"}, false},
		{"* allows every issuer", "*", cmmeta.IssuerReference{Name: "x", Kind: "Y", Group: "z.example.com"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := certs.ParseNamespacePolicy(map[string]string{certs.AnnotationAllowedIssuers: tc.pattern})
			require.NoError(t, err)
			require.Len(t, p.Issuers, 1)
			assert.Equal(t, tc.want, p.Issuers[0].AllowsIssuer(tc.ref))
		})
	}
}

// policyNamespace is Namespace team-a with the given policy annotations
// (YAML flow-map entries; "" for none).
func policyNamespace(annotations string) string {
	return labelledPolicyNamespace(annotations, "")
}

// labelledPolicyNamespace is policyNamespace with labels too.
func labelledPolicyNamespace(annotations, labels string) string {
	return `
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {` + labels + `}, annotations: {` + annotations + `}}
`
}

const withinPolicy = `meshcert.io/allowed-hosts: "*.example.com", meshcert.io/allowed-issuers: ClusterIssuer/ca`

func TestNamespacePolicy(t *testing.T) {
	server := certs.DefaultOptions()
	optional := certs.DefaultOptions()
	optional.NamespacePolicy = certs.PolicyOptional
	tests := []struct {
		name   string
		extra  string
		mutate []mutation
		opts   certs.Options
		// want are the findings as "severity code field"; wantCerts is the
		// number of Certificates planned.
		want      []string
		wantCerts int
		// wantMessage is part of the first finding's message.
		wantMessage string
	}{
		{
			name: "a Gateway within its namespace's policy gets its Certificate", extra: policyNamespace(withinPolicy),
			opts: server, wantCerts: 1,
		},
		{
			name:  "a host outside the allowed hosts is denied on that host, and no Certificate is made",
			extra: policyNamespace(`meshcert.io/allowed-hosts: "*.shop.example.com, web.example.com", meshcert.io/allowed-issuers: ClusterIssuer/ca`),
			opts:  server, want: []string{"error MC8003 spec.servers[0].hosts[1]"},
			wantMessage: `"api.example.com" is outside the hosts Namespace team-a may claim (meshcert.io/allowed-hosts: *.shop.example.com, web.example.com)`,
		},
		{
			name: "by default a namespace without a policy may claim no host and use no issuer", extra: policyNamespace(""),
			opts: server, want: []string{"error MC8003 metadata.namespace", "error MC8004 metadata.namespace"},
			wantMessage: "Namespace team-a has no meshcert.io/allowed-hosts annotation, and without one its Gateways may claim no host; a cluster admin must list the hosts it may claim, e.g. kubectl annotate namespace team-a meshcert.io/allowed-hosts='*.team-a.example.com'",
		},
		{
			name: "a policy that allows hosts but names no issuer still allows no issuer", extra: policyNamespace(`meshcert.io/allowed-hosts: "*"`),
			opts: server, want: []string{"error MC8004 metadata.namespace"},
			wantMessage: "e.g. kubectl annotate namespace team-a meshcert.io/allowed-issuers=ClusterIssuer/ca",
		},
		{
			name: "under the optional mode a namespace without a policy is unrestricted", extra: policyNamespace(""),
			opts: optional, wantCerts: 1,
		},
		{
			name:  "under the optional mode a namespace with a policy is still held to it",
			extra: policyNamespace(`meshcert.io/allowed-hosts: web.example.com`),
			opts:  optional, want: []string{"error MC8003 spec.servers[0].hosts[1]"},
		},
		{
			name: "the server refuses a namespace it does not know, rather than guess its policy",
			opts: server, want: []string{"error MC8003 metadata.namespace"},
			wantMessage: "meshcert does not know namespace team-a yet",
		},
		{
			name: "the CLI checks only the policies of Namespaces in its input",
			opts: cliOptions(), wantCerts: 1,
		},
		{
			name:  "an issuer outside the allowed issuers is denied on its annotation",
			extra: policyNamespace(`meshcert.io/allowed-hosts: "*", meshcert.io/allowed-issuers: "ClusterIssuer/letsencrypt, Issuer/*"`),
			opts:  server, want: []string{"error MC8004 metadata.annotations[cert-manager.io/cluster-issuer]"},
			wantMessage: "ClusterIssuer/ca is not an issuer Namespace team-a may use (meshcert.io/allowed-issuers: ClusterIssuer/letsencrypt, Issuer/*)",
		},
		{
			name:   "the default issuer is held to the policy too",
			extra:  labelledPolicyNamespace(`meshcert.io/allowed-hosts: "*", meshcert.io/allowed-issuers: ClusterIssuer/letsencrypt`, "meshcert.io/inject: enabled"),
			mutate: []mutation{withoutAnnotation("cert-manager.io/cluster-issuer")},
			opts: func() certs.Options {
				o := certs.DefaultOptions()
				o.DefaultIssuer = cmmeta.IssuerReference{Name: "ca", Kind: "ClusterIssuer", Group: "cert-manager.io"}
				return o
			}(),
			want: []string{"error MC8004 "},
		},
		{
			name:   "an alt-name outside the allowed hosts is denied on the annotation",
			extra:  policyNamespace(withinPolicy),
			mutate: []mutation{withAnnotation("cert-manager.io/alt-names", "web.example.com, mail.example.org")},
			opts:   server, want: []string{"error MC8003 metadata.annotations[cert-manager.io/alt-names]"},
			wantMessage: `"mail.example.org" is outside`,
		},
		{
			name:   "a common name outside the allowed hosts is denied",
			extra:  policyNamespace(withinPolicy),
			mutate: []mutation{withAnnotation("cert-manager.io/common-name", "bank.example.org")},
			opts:   server, want: []string{"error MC8003 metadata.annotations[cert-manager.io/common-name]"},
		},
		{
			name:   "a common name that cannot be a host claims nothing",
			extra:  policyNamespace(withinPolicy),
			mutate: []mutation{withAnnotation("cert-manager.io/common-name", "Team A shop")},
			opts:   server, wantCerts: 1,
		},
		{
			name:   "a wildcard common name is a claim too",
			extra:  policyNamespace(withinPolicy),
			mutate: []mutation{withAnnotation("cert-manager.io/common-name", "*.bank.example.org")},
			opts:   server, want: []string{"error MC8003 metadata.annotations[cert-manager.io/common-name]"},
		},
		{
			name:   "an email address is held to the policy by its domain",
			extra:  policyNamespace(withinPolicy),
			mutate: []mutation{withAnnotation("cert-manager.io/email-sans", "ops@shop.example.com, ceo@bank.example.org")},
			opts:   server, want: []string{"error MC8003 metadata.annotations[cert-manager.io/email-sans]"},
			wantMessage: `"bank.example.org" is outside`,
		},
		{
			name:   "an IP host is allowed by an IP pattern",
			extra:  policyNamespace(`meshcert.io/allowed-hosts: "*.example.com, 192.0.2.10", meshcert.io/allowed-issuers: ClusterIssuer/ca`),
			mutate: []mutation{withHosts(0, "web.example.com", "192.0.2.10")},
			opts:   server, wantCerts: 1,
		},
		{
			name:   "the catch-all host of a redirect server is no claim",
			extra:  policyNamespace(withinPolicy),
			mutate: []mutation{addServer(newServer(80, "http", "HTTP", []string{"*"}, map[string]any{"httpsRedirect": true}))},
			opts:   server, wantCerts: 1,
		},
		{
			name:   "a plain HTTP server's hosts are claims too",
			extra:  policyNamespace(withinPolicy),
			mutate: []mutation{addServer(newServer(80, "http", "HTTP", []string{"team-a/bank.example.org"}, nil))},
			opts:   server, want: []string{"error MC8003 spec.servers[1].hosts[0]"},
		},
		{
			name:  "an invalid policy refuses the namespace's Gateways and names the entry",
			extra: policyNamespace(`meshcert.io/allowed-hosts: "shop*.example.com", meshcert.io/allowed-issuers: ClusterIssuer/ca`),
			opts:  server, want: []string{"error MC8005 metadata.namespace"},
			wantMessage: `the policy on Namespace team-a is invalid, so meshcert refuses its Gateways until a cluster admin fixes it: meshcert.io/allowed-hosts: "shop*.example.com" has a "*"`,
		},
		{
			name: "a Gateway meshcert does not manage is not held to the policy", extra: policyNamespace(""),
			mutate: []mutation{withoutAnnotation("cert-manager.io/cluster-issuer"), withCredential(0, "own-tls")},
			opts:   server,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gw := certs.ParseGateway(buildGateway(t, tc.mutate...))
			plan := certs.PlanGateway(t.Context(), gw, indexOf(t, cluster+tc.extra), tc.opts)
			got := policyFindings(plan.Findings)
			if tc.want == nil {
				assert.Empty(t, got)
			} else {
				require.Len(t, got, len(tc.want), "%v", got)
				for i, want := range tc.want {
					assert.Equal(t, want, fmt.Sprintf("%s %s %s", got[i].Severity, got[i].Code, got[i].Field))
				}
				assert.Contains(t, got[0].Message, tc.wantMessage)
			}
			assert.Len(t, plan.Certificates, tc.wantCerts)
			assert.Equal(t, tc.want != nil, plan.OutsidePolicy)
		})
	}
}

func policyFindings(fs finding.Findings) finding.Findings {
	var out finding.Findings
	for _, f := range fs {
		if strings.HasPrefix(string(f.Code), "MC800") && f.Code != finding.CodeCredentialHijack && f.Code != finding.CodeHostHijack {
			out = append(out, f)
		}
	}
	return out
}

// A Gateway with 100,000 hosts outside its policy gets ten findings and a
// count, not 100,000 findings.
func TestNamespacePolicyFindingsAreBounded(t *testing.T) {
	hosts := make([]string, 100_000)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d.example.org", i)
	}
	gw := certs.ParseGateway(buildGateway(t, withHosts(0, hosts...)))
	plan := certs.PlanGateway(t.Context(), gw, indexOf(t, cluster+policyNamespace(withinPolicy)), certs.DefaultOptions())
	got := policyFindings(plan.Findings)
	require.Len(t, got, 11)
	assert.Equal(t, "99990 more names are outside the hosts Namespace team-a may claim (only the first 10 are listed)", got[0].Message)
	assert.True(t, plan.OutsidePolicy)
}

// At the bound itself every name is listed and no count is added; one more
// adds the count.
func TestNamespacePolicyFindingsAtTheBound(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hosts int
		want  int
		count string
	}{
		{name: "ten names outside are all listed, without a count", hosts: 10, want: 10},
		{name: "eleven names outside list ten and count one", hosts: 11, want: 11, count: "1 more names are outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hosts := make([]string, tc.hosts)
			for i := range hosts {
				hosts[i] = fmt.Sprintf("h%d.example.org", i)
			}
			gw := certs.ParseGateway(buildGateway(t, withHosts(0, hosts...)))
			plan := certs.PlanGateway(t.Context(), gw, indexOf(t, cluster+policyNamespace(withinPolicy)), certs.DefaultOptions())
			got := policyFindings(plan.Findings)
			require.Len(t, got, tc.want)
			var counts []string
			for _, f := range got {
				if strings.Contains(f.Message, "more names are outside") {
					counts = append(counts, f.Message)
				}
			}
			if tc.count == "" {
				assert.Empty(t, counts)
			} else {
				require.Len(t, counts, 1)
				assert.Contains(t, counts[0], tc.count)
			}
		})
	}
}
