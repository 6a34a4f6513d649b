package cluster

import (
	"cmp"
	"context"
	"slices"
	"sync"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
)

// Lookup implements certs.Lookup over a client.Reader, which in the server
// is the manager's informer cache (set up with CacheOptions and Setup), so
// every answer comes from memory. Objects it returns are shared with the
// cache and must not be modified.
//
// A read the cache cannot answer (not synced, kind not cached) is logged
// once per kind at V(1) and answered as "not found": the planner keeps
// working and reports what it cannot find.
type Lookup struct {
	reader client.Reader
	// ctx is held because certs.Lookup methods take none; WithContext binds
	// a request's context.
	ctx   context.Context
	state *lookupState
}

// lookupState is shared by every copy WithContext makes.
type lookupState struct {
	log    logr.Logger
	logged sync.Map // kind → struct{}
}

var _ certs.Lookup = (*Lookup)(nil)

// NewLookup returns a Lookup reading from reader and logging cache errors
// to log.
func NewLookup(reader client.Reader, log logr.Logger) *Lookup {
	return &Lookup{reader: reader, ctx: context.Background(), state: &lookupState{log: log}}
}

// WithContext returns a Lookup whose reads use ctx (an admission request's
// context), so a read waiting for an informer to sync ends with the request.
func (l *Lookup) WithContext(ctx context.Context) certs.Lookup {
	c := *l
	c.ctx = ctx
	return &c
}

// failed logs the first error for each kind and reports whether err was one
// (a NotFound is an answer, not a failure).
func (l *Lookup) failed(kind string, err error) bool {
	if err == nil {
		return false
	}
	if apierrors.IsNotFound(err) {
		return true
	}
	if _, seen := l.state.logged.LoadOrStore(kind, struct{}{}); !seen {
		l.state.log.V(1).Info("cache lookup failed; answering not found", "kind", kind, "error", err.Error())
	}
	return true
}

var readOnly = client.UnsafeDisableDeepCopy

// Issuer implements certs.Lookup.
func (l *Lookup) Issuer(namespace, name string) (*cmapi.Issuer, bool) {
	iss := &cmapi.Issuer{}
	if l.failed(cmapi.IssuerKind, l.reader.Get(l.ctx, client.ObjectKey{Namespace: namespace, Name: name}, iss, readOnly)) {
		return nil, false
	}
	return iss, true
}

// IssuerNamespaces implements certs.Lookup.
func (l *Lookup) IssuerNamespaces(name string) []string {
	list := &cmapi.IssuerList{}
	if l.failed(cmapi.IssuerKind, l.reader.List(l.ctx, list, client.MatchingFields{IndexIssuerName: name}, readOnly)) {
		return nil
	}
	var out []string
	for i := range list.Items {
		out = append(out, list.Items[i].Namespace)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ClusterIssuer implements certs.Lookup.
func (l *Lookup) ClusterIssuer(name string) (*cmapi.ClusterIssuer, bool) {
	iss := &cmapi.ClusterIssuer{}
	if l.failed(cmapi.ClusterIssuerKind, l.reader.Get(l.ctx, client.ObjectKey{Name: name}, iss, readOnly)) {
		return nil, false
	}
	return iss, true
}

// Certificate implements certs.Lookup.
func (l *Lookup) Certificate(namespace, name string) (*cmapi.Certificate, bool) {
	crt := &cmapi.Certificate{}
	if l.failed(cmapi.CertificateKind, l.reader.Get(l.ctx, client.ObjectKey{Namespace: namespace, Name: name}, crt, readOnly)) {
		return nil, false
	}
	return crt, true
}

// CertificatesForSecret implements certs.Lookup.
func (l *Lookup) CertificatesForSecret(namespace, secretName string) []*cmapi.Certificate {
	list := &cmapi.CertificateList{}
	err := l.reader.List(l.ctx, list, client.InNamespace(namespace), client.MatchingFields{IndexCertificateSecretName: secretName}, readOnly)
	if l.failed(cmapi.CertificateKind, err) || len(list.Items) == 0 {
		return nil
	}
	out := make([]*cmapi.Certificate, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	slices.SortFunc(out, func(a, b *cmapi.Certificate) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// SecretExists implements certs.Lookup. Secrets are never cached, so the
// answer is always unknown.
func (l *Lookup) SecretExists(string, string) (exists, known bool) { return false, false }

// WorkloadNamespaces implements certs.Lookup from the cached gateway Pods'
// metadata.
func (l *Lookup) WorkloadNamespaces(selector map[string]string) []string {
	list := newMetadataList(podGVK)
	if l.failed(podGVK.Kind, l.reader.List(l.ctx, list, client.MatchingLabels(selector), readOnly)) {
		return nil
	}
	var out []string
	for i := range list.Items {
		out = append(out, list.Items[i].Namespace)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// NamespaceLabels implements certs.Lookup.
func (l *Lookup) NamespaceLabels(namespace string) (map[string]string, bool) {
	ns := NewNamespaceMetadata()
	if l.failed(namespaceGVK.Kind, l.reader.Get(l.ctx, client.ObjectKey{Name: namespace}, ns, readOnly)) {
		return nil, false
	}
	return ns.Labels, true
}

// GatewaysClaiming implements certs.Lookup.
func (l *Lookup) GatewaysClaiming(key string) []*certs.Gateway {
	return l.gateways(key)
}

// gateways lists the Gateways indexed under key in every namespace.
func (l *Lookup) gateways(key string) []*certs.Gateway {
	list := NewGatewayList()
	if l.failed(GatewayGVK.Kind, l.reader.List(l.ctx, list, client.MatchingFields{IndexGatewayClaims: key}, readOnly)) || len(list.Items) == 0 {
		return nil
	}
	out := make([]*certs.Gateway, len(list.Items))
	for i := range list.Items {
		out[i] = certs.ParseGateway(&list.Items[i])
	}
	slices.SortFunc(out, func(a, b *certs.Gateway) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}
