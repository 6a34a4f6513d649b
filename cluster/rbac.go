package cluster

import (
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/gatewayapi"
	"github.com/meshcert/meshcert/istiooperator"
	"github.com/meshcert/meshcert/meshca"
)

// PolicyRules are the cluster-wide permissions `meshcert serve` needs,
// declared once next to the cache that reads and the controller that
// writes: the e2e stack runs meshcert with exactly these (so a missing rule
// fails a test), and the chart's ClusterRole is built from them.
//
// Reads are the kinds the cache watches (Pods and Namespaces as metadata,
// ConfigMaps only when labelled meshcert.io/trust-bundle, never Secrets;
// list and watch permissions cannot be narrowed by label, the cache's
// selector does that) and IngressClasses; the only writes are meshcert's Certificates and Events.
// Gateway API Gateways and ListenerSets are read where their CRDs exist.
// IstioOperators and the Sail Operator's Istios and IstioRevisions are read
// where their CRDs exist.
func PolicyRules() []rbacv1.PolicyRule {
	read := []string{"get", "list", "watch"}
	return []rbacv1.PolicyRule{
		{APIGroups: []string{certs.IstioNetworkingGroup}, Resources: []string{"gateways"}, Verbs: read},
		{APIGroups: []string{cmapi.SchemeGroupVersion.Group}, Resources: []string{"issuers", "clusterissuers"}, Verbs: read},
		{
			APIGroups: []string{cmapi.SchemeGroupVersion.Group}, Resources: []string{"certificates"},
			// Creating is a create, updating a server-side apply (a patch,
			// after one converting meshcert's field ownership); pruning deletes.
			Verbs: []string{"get", "list", "watch", "create", "patch", "update", "delete"},
		},
		{APIGroups: []string{""}, Resources: []string{"namespaces", "pods", "configmaps"}, Verbs: read},
		{APIGroups: []string{istiooperator.GVK.Group}, Resources: []string{istiooperator.IstioOperatorKind.Resource}, Verbs: read},
		{APIGroups: []string{istiooperator.SailGroup}, Resources: []string{istiooperator.SailIstioKind.Resource, istiooperator.SailIstioRevisionKind.Resource}, Verbs: read},
		// Whether Istio serves an ACME HTTP-01 solver's Ingress.
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingressclasses"}, Verbs: read},
		// Gateway API Gateways, ListenerSets and ReferenceGrants, where their
		// CRDs exist: a ListenerSet's parent, a gatewayHTTPRoute solver's
		// route parents, the grants of a cross-namespace certificateRef.
		{APIGroups: []string{gatewayapi.Group}, Resources: []string{"gateways", "listenersets", "referencegrants"}, Verbs: read},
		// With --gateway-api-certificates=meshcert, the Certificates have
		// their object as owner with blockOwnerDeletion, as the shim's; the
		// OwnerReferencesPermissionEnforcement admission plugin allows that
		// only to who may update the owner's finalizers (cert-manager's
		// chart grants the shim the same). No such subresource is served:
		// this writes nothing.
		{APIGroups: []string{gatewayapi.Group}, Resources: []string{"gateways/finalizers", "listenersets/finalizers"}, Verbs: []string{"update"}},
		// controller-runtime's event recorder writes events.k8s.io/v1 Events.
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}},
	}
}

// IstiodNamespaceRules are the permissions meshcert needs in istiod's
// namespace only: reading whether a Secret cacerts exists before it creates
// the Certificate, so a plugged-in CA made by hand is never overwritten;
// reading the intermediate cert-manager issued and composing cacerts from
// it (package meshca); and publishing this cluster's roots for its peers in
// a ConfigMap. Create cannot be narrowed by name. Without them meshcert
// creates no mesh CA at all.
func IstiodNamespaceRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{meshca.CACertsSecret}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{meshca.IssuedSecret}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"update"}},
	}
}

// LeaderElectionRules are the permissions on Leases that leader election
// needs, in the leader election namespace only.
func LeaderElectionRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
	}
}
