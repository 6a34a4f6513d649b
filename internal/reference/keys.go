// Package reference describes, for the generated reference tables of docs/,
// every annotation and label meshcert reads or writes. Its test keeps it
// whole: each key the product code uses must be here.
package reference

import (
	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/internal/mddoc"
	"github.com/meshcert/meshcert/istiooperator"
	"github.com/meshcert/meshcert/meshca"
	"github.com/meshcert/meshcert/webhook"
)

// Key is an annotation or label and what meshcert does with it.
type Key struct {
	Key string
	// Label is true for a label, false for an annotation.
	Label bool
	// On is the kind of object it sits on.
	On string
	// Meaning says what it does; for cert-manager's keys, what meshcert
	// makes of them, which is what cert-manager's shim would.
	Meaning string
}

// ShimAnnotations are cert-manager's annotations meshcert reads on a Gateway
// (and on an IstioOperator, for istiod's CA), with cert-manager's meaning and
// validation: an invalid one is an error on that annotation, and no
// Certificate is made.
var ShimAnnotations = []Key{
	{Key: cmapi.IngressIssuerNameAnnotationKey, On: "Gateway, IstioOperator", Meaning: "namespaced `Issuer`, in the **credential namespace** where the Certificate lives; or an external issuer with `issuer-kind`/`issuer-group`"},
	{Key: cmapi.IngressClusterIssuerNameAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`ClusterIssuer`; may not be combined with `issuer`, `issuer-kind` or `issuer-group`"},
	{Key: cmapi.IssuerKindAnnotationKey, On: "Gateway, IstioOperator", Meaning: "kind of the issuer (default `Issuer`)"},
	{Key: cmapi.IssuerGroupAnnotationKey, On: "Gateway, IstioOperator", Meaning: "group of the issuer (default `cert-manager.io`)"},
	{Key: cmapi.CommonNameAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`spec.commonName` (at most 64 characters)"},
	{Key: cmapi.AltNamesAnnotationKey, On: "Gateway (an error on an IstioOperator)", Meaning: "extra `spec.dnsNames`, comma-separated"},
	{Key: cmapi.IPSANAnnotationKey, On: "Gateway (an error on an IstioOperator)", Meaning: "`spec.ipAddresses`, comma-separated; written in canonical form, no IPv6 zones"},
	{Key: cmapi.EmailsAnnotationKey, On: "Gateway (an error on an IstioOperator)", Meaning: "`spec.emailAddresses`, comma-separated"},
	{Key: cmapi.SubjectOrganizationsAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`spec.subject.organizations`, comma-separated; quote values with commas"},
	{Key: cmapi.SubjectOrganizationalUnitsAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`spec.subject.organizationalUnits`, as above"},
	{Key: cmapi.SubjectCountriesAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`spec.subject.countries`, as above"},
	{Key: cmapi.SubjectProvincesAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`spec.subject.provinces`, as above"},
	{Key: cmapi.SubjectLocalitiesAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`spec.subject.localities`, as above"},
	{Key: cmapi.SubjectPostalCodesAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`spec.subject.postalCodes`, as above"},
	{Key: cmapi.SubjectStreetAddressesAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`spec.subject.streetAddresses`, as above"},
	{Key: cmapi.SubjectSerialNumberAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`spec.subject.serialNumber`"},
	{Key: cmapi.DurationAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`spec.duration`, at least `1h`"},
	{Key: cmapi.RenewBeforeAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`spec.renewBefore`, at least `5m` and less than the duration"},
	{Key: cmapi.RenewBeforePercentageAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`spec.renewBeforePercentage`, 1 to 99; not with `renew-before`"},
	{Key: cmapi.UsagesAnnotationKey, On: "Gateway (an error on an IstioOperator)", Meaning: "`spec.usages`, cert-manager's key usage names, comma-separated"},
	{Key: cmapi.RevisionHistoryLimitAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`spec.revisionHistoryLimit`, at least 1"},
	{Key: cmapi.PrivateKeyAlgorithmAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`RSA`, `ECDSA` or `Ed25519`"},
	{Key: cmapi.PrivateKeyEncodingAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`PKCS1` or `PKCS8`"},
	{Key: cmapi.PrivateKeySizeAnnotationKey, On: "Gateway, IstioOperator", Meaning: "RSA 2048 to 8192, ECDSA 256, 384 or 521"},
	{Key: cmapi.PrivateKeyRotationPolicyAnnotationKey, On: "Gateway, IstioOperator", Meaning: "`Always` or `Never`"},
	{Key: cmapi.IngressSecretTemplate, On: "Gateway, IstioOperator", Meaning: "JSON `{\"labels\": {...}, \"annotations\": {...}}` for the Secret; no `cert-manager.io/` annotations"},
	{Key: cmapi.IngressACMEIssuerHTTP01IngressClassAnnotationKey, On: "Gateway (an error on an IstioOperator)", Meaning: "ACME HTTP-01: the solver Ingress's class annotation, written on the Certificate as cert-manager's shim does ([ACME](acme.md))"},
	{Key: cmapi.IngressACMEIssuerHTTP01IngressClassNameAnnotationKey, On: "Gateway (an error on an IstioOperator)", Meaning: "ACME HTTP-01: the solver Ingress's `ingressClassName`, an IngressClass name"},
	{Key: cmacme.IngressEditInPlaceAnnotationKey, On: "Gateway (an error on an IstioOperator)", Meaning: "ACME HTTP-01: `\"true\"` names the solver Ingress after the Gateway and asks for a temporary certificate, as the shim does"},
}

// OwnKeys are meshcert's own annotations and labels, and the ones of others
// it reads or writes on objects that are not Gateways.
var OwnKeys = []Key{
	{Key: certs.AnnotationInject, On: "Gateway", Meaning: "`\"false\"` opts the Gateway out"},
	{Key: certs.AnnotationCredentialNamespace, On: "Gateway", Meaning: "where credentials and Certificates live, overriding the workload lookup"},
	{Key: certs.AnnotationClientCA, On: "Gateway", Meaning: "a trust-bundle ConfigMap of the credential namespace whose CAs MUTUAL and OPTIONAL_MUTUAL servers verify clients with: meshcert injects `tls.caCertCredentialName: configmap://<ns>/<name>` (Istio 1.28+)"},
	{Key: certs.LabelInject, Label: true, On: "Namespace", Meaning: "`enabled`: manage the namespace's Gateways with the default issuer"},
	{Key: webhook.LabelEnforce, Label: true, On: "Namespace", Meaning: "`\"true\"`: findings that may only mean \"not applied yet\" (an issuer or credential not found) deny in this namespace"},
	{Key: certs.AnnotationAllowedHosts, On: "Namespace", Meaning: "set by cluster admins: the hosts the namespace's managed Gateways may claim (`*`, `*.domain`, a name or an IP), comma-separated ([Tenancy](tenancy.md))"},
	{Key: certs.AnnotationAllowedIssuers, On: "Namespace", Meaning: "set by cluster admins: the issuers meshcert may use for them, `Kind[.group]/name`, comma-separated (`name` may be `*`; `*` alone is every issuer)"},
	{Key: istiooperator.AnnotationPeerRoots, On: "IstioOperator", Meaning: "trust-bundle ConfigMaps with other clusters' roots, `[ns/]name[:key]`, comma-separated, injected into `spec.meshConfig.caCertificates` (plus `ISTIO_MULTIROOT_MESH` and `PROXY_CONFIG_XDS_AGENT` where unset); the namespace defaults to istiod's, the key to `ca.crt`"},
	{Key: istiooperator.AnnotationRotationPropagation, On: "IstioOperator", Meaning: "how long what istiod publishes takes to reach every Pod and istiod replica, a Go duration (default `2m`, the kubelet's refresh with a margin): a root rotation waits that long on top of the workload certificate lifetime ([Root rotation](multicluster.md#rotating-the-mesh-root))"},
	{Key: istiooperator.AnnotationInjectedRoots, On: "IstioOperator", Meaning: "written by meshcert: fingerprints of the entries it injected, so it replaces only those"},
	{Key: certs.LabelTrustBundle, Label: true, On: "ConfigMap", Meaning: "a ConfigMap meshcert may read CA certificates from (`peer-roots`, `client-ca`); the server caches only these"},
	{Key: certs.LabelManagedBy, Label: true, On: "Certificate", Meaning: "written by meshcert: `meshcert` on every Certificate it creates; meshcert never changes a Certificate without it"},
	{Key: certs.LabelGatewayNamespace, Label: true, On: "Certificate", Meaning: "written by meshcert: the Gateway's namespace (hashed when longer than a label allows)"},
	{Key: certs.LabelGatewayName, Label: true, On: "Certificate", Meaning: "written by meshcert: the Gateway's name (hashed when longer than a label allows)"},
	{Key: certs.AnnotationGateway, On: "Certificate", Meaning: "written by meshcert: `<namespace>/<name>` of the Gateway the Certificate is for"},
	{Key: istiooperator.LabelIstioOperatorNamespace, Label: true, On: "Certificate", Meaning: "written by meshcert on istiod's `cacerts` Certificate: the IstioOperator's namespace (hashed when long)"},
	{Key: istiooperator.LabelIstioOperatorName, Label: true, On: "Certificate", Meaning: "written by meshcert on istiod's `cacerts` Certificate: the IstioOperator's name (hashed when long)"},
	{Key: istiooperator.AnnotationIstioOperator, On: "Certificate", Meaning: "written by meshcert: `<namespace>/<name>` of the IstioOperator the `cacerts` Certificate is for"},
	{Key: istiooperator.LabelSailIstioName, Label: true, On: "Certificate", Meaning: "written by meshcert on istiod's `cacerts` Certificate: the Sail Operator `Istio`'s name (hashed when long)"},
	{Key: istiooperator.AnnotationSailIstio, On: "Certificate", Meaning: "written by meshcert: the name of the Sail Operator `Istio` the `cacerts` Certificate is for"},
	{Key: istiooperator.LabelSailIstioRevisionName, Label: true, On: "Certificate", Meaning: "written by meshcert on istiod's `cacerts` Certificate: the Sail Operator `IstioRevision`'s name (hashed when long)"},
	{Key: istiooperator.AnnotationSailIstioRevision, On: "Certificate", Meaning: "written by meshcert: the name of the Sail Operator `IstioRevision` the `cacerts` Certificate is for"},
	{Key: cmapi.IssueTemporaryCertificateAnnotation, On: "Certificate", Meaning: "written by meshcert for `acme.cert-manager.io/http01-edit-in-place`, as cert-manager's shim writes it"},
	{Key: cmacme.ACMECertificateHTTP01IngressClassOverride, On: "Certificate", Meaning: "written by meshcert from the Gateway's ACME annotations, as cert-manager's shim writes it"},
	{Key: cmacme.ACMECertificateHTTP01IngressClassNameOverride, On: "Certificate", Meaning: "written by meshcert from the Gateway's ACME annotations, as cert-manager's shim writes it"},
	{Key: cmacme.ACMECertificateHTTP01IngressNameOverride, On: "Certificate", Meaning: "written by meshcert for `acme.cert-manager.io/http01-edit-in-place`: the Gateway's name"},
	{Key: cmacme.ACMECertificateHTTP01ParentRefName, On: "Certificate", Meaning: "read by meshcert: cert-manager's override of a `gatewayHTTPRoute` solver's parent (with `-parentrefkind` and `-parentrefnamespace`), whose listeners meshcert checks when checking an ACME Certificate"},
	{Key: cmacme.ACMECertificateHTTP01ParentRefKind, On: "Certificate", Meaning: "read by meshcert: the kind (`Gateway` or `ListenerSet`) of that parent; cert-manager refuses one of name and kind without the other"},
	{Key: cmacme.ACMECertificateHTTP01ParentRefNamespace, On: "Certificate", Meaning: "read by meshcert: the namespace of that parent (the Certificate's when unset)"},
	{Key: cmapi.CertificateNameKey, On: "Secret", Meaning: "read by meshcert where Secrets are in the input (`meshcert check`): cert-manager wrote the Secret for this Certificate"},
	{Key: meshca.AnnotationPhase, On: "Secret", Meaning: "written by meshcert on istiod's `cacerts`: the root rotation's step, `trusting` or `switching` ([Root rotation](multicluster.md#rotating-the-mesh-root)); absent when none runs"},
	{Key: meshca.AnnotationRetiringRoot, On: "Secret", Meaning: "written by meshcert on istiod's `cacerts` while switching: the SHA-256 of the root being rotated away from"},
	{Key: meshca.AnnotationTrusted, On: "Secret", Meaning: "written by meshcert on istiod's `cacerts`: when istiod and every peer were seen trusting the new root (RFC 3339); the switch waits half the workload certificate lifetime and the propagation after it"},
	{Key: meshca.AnnotationSwitched, On: "Secret", Meaning: "written by meshcert on istiod's `cacerts`: when istiod was seen loading the new intermediate (RFC 3339); the old root stays trusted for the workload certificate lifetime after it"},
	{Key: meshca.LabelMeshCA, Label: true, On: "ConfigMap", Meaning: "written by meshcert on the ConfigMap it publishes a cluster's roots in (`meshcert-mesh-ca-<cluster>`): the cluster; copies of peers' ConfigMaps keep it, and meshcert waits for them during a root rotation"},
}

// IstioAndKubernetesKeys are Istio's and Kubernetes' keys meshcert reads,
// with what it makes of them.
var IstioAndKubernetesKeys = []Key{
	{Key: "internal.istio.io/gateway-semantics", On: "Gateway", Meaning: "`gateway`: a Gateway istiod made from a Gateway API Gateway, held to the fewer rules Istio's validation applies to those (its name need not be a DNS label)"},
	{Key: "istio.io/dry-run", On: "Gateway", Meaning: "refused (MC2008): Istio's validation takes it only on AuthorizationPolicies"},
	{Key: "internal.istio.io/webhook-always-reject", On: "Gateway", Meaning: "refused (MC2008), as Istio's validation refuses its internal annotations on what users write"},
	{Key: "internal.istio.io/parent-namespace", On: "Gateway", Meaning: "refused (MC2008), as above"},
	{Key: "internal.istio.io/parents", On: "Gateway", Meaning: "refused (MC2008), as above"},
	{Key: networkingv1.AnnotationIsDefaultIngressClass, On: "IngressClass", Meaning: "`\"true\"`: the class an ACME HTTP-01 solver's Ingress gets when the solver names none, to tell whether Istio serves it"},
	{Key: corev1.LabelMetadataName, Label: true, On: "Namespace", Meaning: "set by the API server: the webhooks' namespaceSelector leaves out `kube-system` and meshcert's own namespace by it"},
	{Key: corev1.LastAppliedConfigAnnotation, On: "any cached object", Meaning: "dropped from meshcert's cache, which never reads it (memory)"},
}

// Table is the Markdown table of keys.
func Table(keys []Key) string {
	rows := make([][]string, len(keys))
	for i, k := range keys {
		kind := "annotation"
		if k.Label {
			kind = "label"
		}
		rows[i] = []string{mddoc.Code(k.Key), kind, k.On, k.Meaning}
	}
	return mddoc.Table([]string{"key", "type", "on", "meaning"}, rows)
}
