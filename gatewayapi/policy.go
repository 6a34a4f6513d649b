package gatewayapi

import (
	"context"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// inheritedIssuerKeys are the annotations a ListenerSet takes from its
// Gateway (inheritAnnotations): the issuer and cluster-issuer where it
// names neither, the issuer kind and group always.
var inheritedIssuerKeys = []string{
	cmapi.IngressClusterIssuerNameAnnotationKey,
	cmapi.IngressIssuerNameAnnotationKey,
	cmapi.IssuerKindAnnotationKey,
	cmapi.IssuerGroupAnnotationKey,
}

// attachedOutsidePolicy holds the ListenerSets attached to Gateway gw to
// their namespaces' policies with the issuer gw gives them. cert-manager's
// listenerset controller requeues them on every change of their Gateway
// and issues with what it then inherits, whatever the Gateway's
// allowedListeners say; so a Gateway that gains an issuer annotation makes
// the shim issue for ListenerSets admitted when it had none, or before it
// existed. The Gateway's admission is the last door before that.
func attachedOutsidePolicy(ctx context.Context, b *finding.Builder, gw *Object, lookup certs.Lookup, opts certs.Options, shim ShimOptions) {
	var path *field.Path
	for _, key := range inheritedIssuerKeys {
		if _, ok := gw.Annotations[key]; ok {
			path = field.NewPath("metadata", "annotations").Key(key)
			break
		}
	}
	attached, ok := lookup.(Attached)
	if path == nil || !ok {
		return
	}
	for _, ls := range attached.ListenerSetsOf(ctx, gw.Namespace, gw.Name) {
		plan := PlanShim(ls, gw, shim)
		if len(plan.Certificates) == 0 {
			continue
		}
		own := finding.Builder{Object: ls.Ref}
		certs.CheckPolicyOf(ctx, &own, ls.Namespace, plan.Certificates, plan.fieldOf, lookup, opts)
		for _, f := range own.Findings() {
			b.Addf(f.Severity, f.Code, path,
				"ListenerSet %s/%s is attached to this Gateway, and cert-manager's gateway-shim would issue its certificates with the issuer this Gateway gives it, outside its namespace's policy: %s: %s; remove that ListenerSet's listener, or ask a cluster admin to widen %s's policy",
				ls.Namespace, ls.Name, f.Field, f.Message, ls.Namespace)
		}
	}
}
