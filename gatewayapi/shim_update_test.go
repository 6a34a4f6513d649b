package gatewayapi

import (
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The expected values come from cert-manager v1.21.2's gateway-shim
// (pkg/controller/certificate-shim sync.go: buildCertificates and
// certNeedsUpdate).
func TestShimPlanUpdate(t *testing.T) {
	gateway := parse(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: ns
  uid: u1
  labels: {app: web}
  annotations: {cert-manager.io/issuer: ca, example.com/team: blue}
spec:
  listeners:
  - {name: a, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a}]}}
`)
	tests := []struct {
		name string
		// edit turns the Certificate the shim would create into the one
		// that exists.
		edit     func(*cmapi.Certificate)
		extra    []string
		wantSync ShimSync
		// want edits the Certificate the shim would create into the one
		// it leaves.
		want func(*cmapi.Certificate)
	}{
		{
			name: "a Certificate as the shim writes it is left as it is",
			edit: func(*cmapi.Certificate) {},
		},
		{
			name: "a difference only in usages, IP addresses, subject, issuer group or annotations is never written",
			edit: func(c *cmapi.Certificate) {
				c.Spec.Usages = []cmapi.KeyUsage{cmapi.UsageServerAuth}
				c.Spec.IPAddresses = []string{"10.0.0.1"}
				c.Spec.Subject = &cmapi.X509Subject{Organizations: []string{"x"}}
				c.Spec.IssuerRef.Group = "example.com"
				c.Annotations = map[string]string{"note": "mine"}
			},
		},
		{
			name: "other hosts replace the spec and labels and keep the existing annotations, the HTTP-01 parent ones not added back",
			edit: func(c *cmapi.Certificate) {
				c.Spec.DNSNames = []string{"old.example.com"}
				c.Spec.Usages = []cmapi.KeyUsage{cmapi.UsageServerAuth}
				c.Labels = map[string]string{"app": "old"}
				c.Annotations = map[string]string{"note": "mine"}
			},
			wantSync: ShimUpdates,
			want: func(c *cmapi.Certificate) {
				c.Annotations = map[string]string{"note": "mine"}
			},
		},
		{
			name: "no labels where the Gateway has some is a change",
			edit: func(c *cmapi.Certificate) {
				c.Labels = nil
				c.Annotations = nil
			},
			wantSync: ShimUpdates,
			want:     func(c *cmapi.Certificate) { c.Annotations = nil },
		},
		{
			name: "the extra Certificate annotations are merged over the existing ones on an update",
			edit: func(c *cmapi.Certificate) {
				c.Spec.IssuerRef.Name = "old-ca"
				c.Annotations = map[string]string{"note": "mine", "example.com/team": "red"}
			},
			extra:    []string{"example.com/team"},
			wantSync: ShimUpdates,
			want: func(c *cmapi.Certificate) {
				c.Annotations = map[string]string{"note": "mine", "example.com/team": "blue"}
			},
		},
		{
			name: "a private key size the annotations do not set is a change",
			edit: func(c *cmapi.Certificate) {
				c.Spec.PrivateKey = &cmapi.CertificatePrivateKey{Size: 4096}
			},
			wantSync: ShimUpdates,
			want: func(c *cmapi.Certificate) {
				c.Annotations = parentRef("Gateway", "gw")
			},
		},
		{
			name: "a duration or renewBefore the annotations do not set is a change",
			edit: func(c *cmapi.Certificate) {
				c.Spec.RenewBefore = duration("1h")
			},
			wantSync: ShimUpdates,
			want:     func(c *cmapi.Certificate) { c.Annotations = parentRef("Gateway", "gw") },
		},
		{
			name: "a secretName no listener names is deleted in the same sync, going by the Certificate as listed before, and created anew",
			edit: func(c *cmapi.Certificate) {
				c.Spec.SecretName = "old"
				c.Annotations = map[string]string{"note": "mine"}
			},
			wantSync: ShimRecreates,
			want:     func(*cmapi.Certificate) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultShimOptions()
			opts.ExtraCertificateAnnotations = tt.extra
			plan := PlanShim(gateway, nil, opts)
			require.Len(t, plan.Certificates, 1)
			desired := plan.Certificates[0]
			existing := desired.DeepCopy()
			tt.edit(existing)
			before := existing.DeepCopy()

			got, sync := plan.Update(existing, desired, opts)
			assert.Equal(t, tt.wantSync, sync)
			assert.Equal(t, before, existing, "the existing Certificate is not modified")
			if tt.wantSync == ShimLeaves {
				assert.Same(t, existing, got)
				return
			}
			want := desired.DeepCopy()
			tt.want(want)
			assert.Equal(t, want, got)
		})
	}
}

func TestShimNeedsUpdateIgnoresAnEd25519KeysSize(t *testing.T) {
	a := &cmapi.Certificate{Spec: cmapi.CertificateSpec{PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.Ed25519KeyAlgorithm, Size: 256}}}
	b := &cmapi.Certificate{Spec: cmapi.CertificateSpec{PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.Ed25519KeyAlgorithm}}}
	assert.False(t, shimNeedsUpdate(a, b))
	a.Spec.PrivateKey.Algorithm = cmapi.RSAKeyAlgorithm
	b.Spec.PrivateKey.Algorithm = cmapi.RSAKeyAlgorithm
	assert.True(t, shimNeedsUpdate(a, b))
}
