package certs_test

import (
	"strings"
	"testing"

	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/certs"
)

// FuzzParseNamespacePolicy reads arbitrary annotation values as a policy:
// nothing may panic, a pattern written back parses to itself, and every
// host pattern allows the names it was written for and never the bare
// domain below a "*.".
func FuzzParseNamespacePolicy(f *testing.F) {
	f.Add("*.team-a.example.com, shop.example.com., 10.0.0.1, 2001:DB8::1, *", "ClusterIssuer/letsencrypt, Issuer/*, AWSPCAClusterIssuer.awspca.cert-manager.io/pca, *")
	f.Add("shop*.example.com", "letsencrypt")
	f.Add("", " , ")
	f.Add("*.*.x", ".cert-manager.io/ca")
	f.Fuzz(func(t *testing.T, hosts, issuers string) {
		p, err := certs.ParseNamespacePolicy(map[string]string{certs.AnnotationAllowedHosts: hosts, certs.AnnotationAllowedIssuers: issuers})
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "meshcert.io/allowed-"), "an error names its annotation: %v", err)
			return
		}
		for _, h := range p.Hosts {
			again, err := certs.ParseNamespacePolicy(map[string]string{certs.AnnotationAllowedHosts: h.String()})
			require.NoError(t, err, "%q", h.String())
			require.Equal(t, []certs.HostPattern{h}, again.Hosts)
			switch {
			case h.Any:
				require.True(t, h.AllowsHost("anything.example"))
			case h.Suffix != "":
				domain := strings.TrimPrefix(h.Suffix, ".")
				require.True(t, h.AllowsHost("a"+h.Suffix))
				require.True(t, h.AllowsHost("*"+h.Suffix))
				require.False(t, h.AllowsHost(domain), "*.%s does not allow %s itself", domain, domain)
				require.False(t, h.AllowsHost("x"+domain))
			default:
				require.True(t, h.AllowsHost(h.Exact))
				require.False(t, h.AllowsHost("a."+h.Exact))
			}
		}
		for _, i := range p.Issuers {
			again, err := certs.ParseNamespacePolicy(map[string]string{certs.AnnotationAllowedIssuers: i.String()})
			require.NoError(t, err, "%q", i.String())
			require.Equal(t, []certs.IssuerPattern{i}, again.Issuers)
			if i.Kind != "" && i.Name != "" {
				require.True(t, i.AllowsIssuer(cmmeta.IssuerReference{Name: i.Name, Kind: i.Kind, Group: i.Group}))
				require.False(t, i.AllowsIssuer(cmmeta.IssuerReference{Name: i.Name + "x", Kind: i.Kind, Group: i.Group}))
			}
		}
	})
}
