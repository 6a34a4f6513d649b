// Package offline plans a set of manifests as if they were the whole
// cluster, for `meshcert inject` and `meshcert check`: Index is the
// certs.Lookup over the input objects, PlanObjects runs the same planners the
// webhooks and the controller run.
package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/gatewayapi"
)

// Index is an in-memory certs.Lookup over a set of objects: the CLI's view of its
// input files, and a convenient lookup for tests. certs.Gateway workloads are
// Pods, Deployments, StatefulSets and DaemonSets, matched on their pod
// (template) labels.
type Index struct {
	issuers        map[types.NamespacedName]*cmapi.Issuer
	issuerNS       map[string][]string // name → namespaces
	clusterIssuers map[string]*cmapi.ClusterIssuer
	certificates   map[types.NamespacedName]*cmapi.Certificate
	bySecret       map[types.NamespacedName][]*cmapi.Certificate // by namespace and spec.secretName
	secrets        map[types.NamespacedName]*corev1.Secret
	services       map[string][]*corev1.Service // by namespace
	configMaps     map[types.NamespacedName]*corev1.ConfigMap
	namespaces     map[string]*metav1.ObjectMeta
	workloads      []workload
	ingressClasses []*networkingv1.IngressClass
	gatewayByKey   map[string]*certs.Gateway   // namespace/name → gateway
	gatewayKeys    map[string][]string         // namespace/name → its index keys
	gateways       map[string][]*certs.Gateway // HostKey or CredentialKey → gateways
	// apiGateways are the Gateway API Gateways, by namespace and name, so a
	// ListenerSet finds its parent; listenerSets the ListenerSets, so a
	// gatewayHTTPRoute solver's route finds them.
	apiGateways  map[types.NamespacedName]*gatewayapi.Object
	listenerSets map[types.NamespacedName]*gatewayapi.Object
	// referenceGrants are the ReferenceGrants, by namespace and name.
	referenceGrants map[string]map[string]*gatewayapi.ReferenceGrant
}

type workload struct {
	namespace, name string
	labels          labels.Set
}

// APIGateway returns the Gateway API Gateway namespace/name of the input.
func (x *Index) APIGateway(_ context.Context, namespace, name string) (*gatewayapi.Object, bool) {
	gw, ok := x.apiGateways[types.NamespacedName{Namespace: namespace, Name: name}]
	return gw, ok
}

// ListenerSet returns the ListenerSet namespace/name of the input.
func (x *Index) ListenerSet(_ context.Context, namespace, name string) (*gatewayapi.Object, bool) {
	ls, ok := x.listenerSets[types.NamespacedName{Namespace: namespace, Name: name}]
	return ls, ok
}

// KnowsGatewayAPI implements gatewayapi.Parents: the input is taken to be
// every object there is, so an object not in it does not exist.
func (x *Index) KnowsGatewayAPI(context.Context, string) bool { return true }

// RouteParent implements certs.RouteParents from the Gateway API objects
// of the input.
func (x *Index) RouteParent(ctx context.Context, kind, namespace, name string) (*certs.RouteParent, bool) {
	return gatewayapi.RouteParent(ctx, x, kind, namespace, name)
}

// APIGateways implements gatewayapi.AllGateways: the Gateways of the input.
func (x *Index) APIGateways(context.Context) []*gatewayapi.Object {
	out := make([]*gatewayapi.Object, 0, len(x.apiGateways))
	for _, gw := range x.apiGateways {
		out = append(out, gw)
	}
	return out
}

// ListenersBeside implements certs.WorkloadListeners from the Gateway API
// objects of the input.
func (x *Index) ListenersBeside(ctx context.Context, gw *certs.Gateway) certs.Beside {
	return gatewayapi.ListenersBeside(ctx, x, gw)
}

var (
	_ gatewayapi.Parents      = (*Index)(nil)
	_ gatewayapi.AllGateways  = (*Index)(nil)
	_ certs.RouteParents      = (*Index)(nil)
	_ certs.WorkloadListeners = (*Index)(nil)
)

// AddShimCertificates records the Certificates cert-manager's gateway-shim
// creates for obj (its parent Gateway taken from the index), except one
// the index already holds: as in a cluster, the first object to name a
// Secret keeps its Certificate, and the shim skips it for the others.
func (x *Index) AddShimCertificates(ctx context.Context, obj *gatewayapi.Object, opts gatewayapi.ShimOptions) {
	var parent *gatewayapi.Object
	if obj.Kind == gatewayapi.KindListenerSet {
		parent, _ = x.APIGateway(ctx, obj.ParentNamespace, obj.ParentName)
	}
	for _, crt := range gatewayapi.PlanShim(obj, parent, opts).Certificates {
		if _, exists := x.Certificate(ctx, crt.Namespace, crt.Name); !exists {
			x.AddCertificate(crt)
		}
	}
}

// parseGatewayAPI reads a Gateway API object. Only when that fails is it
// decoded into typed, its Go type, for the ShapeError naming the field, as
// for the other kinds.
func parseGatewayAPI(obj *unstructured.Unstructured, typed any) (*gatewayapi.Object, error) {
	parsed, err := gatewayapi.Parse(obj)
	if err == nil {
		return parsed, nil
	}
	if shape := fromUnstructured(obj, typed); shape != nil {
		return nil, shape
	}
	return nil, err
}

// NewIndex returns an empty Index.
func NewIndex() *Index {
	return &Index{
		issuers:        map[types.NamespacedName]*cmapi.Issuer{},
		issuerNS:       map[string][]string{},
		clusterIssuers: map[string]*cmapi.ClusterIssuer{},
		certificates:   map[types.NamespacedName]*cmapi.Certificate{},
		bySecret:       map[types.NamespacedName][]*cmapi.Certificate{},
		secrets:        map[types.NamespacedName]*corev1.Secret{},
		services:       map[string][]*corev1.Service{},
		configMaps:     map[types.NamespacedName]*corev1.ConfigMap{},
		namespaces:     map[string]*metav1.ObjectMeta{},
		gatewayByKey:   map[string]*certs.Gateway{},
		gatewayKeys:    map[string][]string{},
		gateways:       map[string][]*certs.Gateway{},
		apiGateways:    map[types.NamespacedName]*gatewayapi.Object{},
		listenerSets:   map[types.NamespacedName]*gatewayapi.Object{},

		referenceGrants: map[string]map[string]*gatewayapi.ReferenceGrant{},
	}
}

var _ certs.Lookup = (*Index)(nil)

// Add records an object the lookup should know. Kinds the planner does not
// look up are ignored. Objects must already carry their namespace.
func (x *Index) Add(obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	ns := obj.GetNamespace()
	switch {
	case certs.IsGateway(gvk):
		x.AddGateway(certs.ParseGateway(obj))
	case gatewayapi.IsGateway(gvk):
		gw, err := parseGatewayAPI(obj, &gwapi.Gateway{})
		if err != nil {
			return err
		}
		x.apiGateways[types.NamespacedName{Namespace: ns, Name: gw.Name}] = gw
	case gatewayapi.IsListenerSet(gvk):
		ls, err := parseGatewayAPI(obj, &gwapi.ListenerSet{})
		if err != nil {
			return err
		}
		x.listenerSets[types.NamespacedName{Namespace: ns, Name: ls.Name}] = ls
	case gatewayapi.IsReferenceGrant(gvk):
		grant := &gwapi.ReferenceGrant{}
		if err := fromUnstructured(obj, grant); err != nil {
			return err
		}
		x.addReferenceGrant(&gatewayapi.ReferenceGrant{Namespace: ns, Name: obj.GetName(), Spec: grant.Spec})
	case gvk.Group == certs.CertManagerGroup && gvk.Kind == cmapi.IssuerKind:
		iss := &cmapi.Issuer{}
		if err := fromUnstructured(obj, iss); err != nil {
			return err
		}
		x.issuers[types.NamespacedName{Namespace: ns, Name: iss.Name}] = iss
		x.issuerNS[iss.Name] = insertSorted(x.issuerNS[iss.Name], ns)
	case gvk.Group == certs.CertManagerGroup && gvk.Kind == cmapi.ClusterIssuerKind:
		iss := &cmapi.ClusterIssuer{}
		if err := fromUnstructured(obj, iss); err != nil {
			return err
		}
		x.clusterIssuers[iss.Name] = iss
	case certs.IsCertificate(gvk):
		crt := &cmapi.Certificate{}
		if err := fromUnstructured(obj, crt); err != nil {
			return err
		}
		x.AddCertificate(crt)
	case gvk.Group == "" && gvk.Kind == "Secret":
		secret := &corev1.Secret{}
		if err := fromUnstructured(obj, secret); err != nil {
			return err
		}
		// The API server merges stringData into data on write.
		for k, v := range secret.StringData {
			if secret.Data == nil {
				secret.Data = map[string][]byte{}
			}
			secret.Data[k] = []byte(v)
		}
		secret.StringData = nil
		x.secrets[types.NamespacedName{Namespace: ns, Name: obj.GetName()}] = secret
	case gvk.Group == "" && gvk.Kind == "Service":
		svc := &corev1.Service{}
		if err := fromUnstructured(obj, svc); err != nil {
			return err
		}
		svc.Namespace = ns
		x.services[ns] = append(x.services[ns], svc)
	case gvk.Group == "" && gvk.Kind == "ConfigMap":
		cm := &corev1.ConfigMap{}
		if err := fromUnstructured(obj, cm); err != nil {
			return err
		}
		x.configMaps[types.NamespacedName{Namespace: ns, Name: obj.GetName()}] = cm
	case gvk.Group == "" && gvk.Kind == "Namespace":
		x.namespaces[obj.GetName()] = &metav1.ObjectMeta{Name: obj.GetName(), Labels: obj.GetLabels(), Annotations: obj.GetAnnotations()}
	case gvk.Group == networkingv1.GroupName && gvk.Kind == "IngressClass":
		ic := &networkingv1.IngressClass{}
		if err := fromUnstructured(obj, ic); err != nil {
			return err
		}
		x.ingressClasses = append(x.ingressClasses, ic)
	case gvk.Group == "" && gvk.Kind == "Pod":
		x.workloads = append(x.workloads, workload{namespace: ns, name: "Pod/" + obj.GetName(), labels: obj.GetLabels()})
	case gvk.Group == "apps" && (gvk.Kind == "Deployment" || gvk.Kind == "StatefulSet" || gvk.Kind == "DaemonSet"):
		podLabels, _, err := unstructured.NestedStringMap(obj.Object, "spec", "template", "metadata", "labels")
		if err != nil {
			return fmt.Errorf("failed to read spec.template.metadata.labels of %s %s/%s: %w", gvk.Kind, ns, obj.GetName(), err)
		}
		x.workloads = append(x.workloads, workload{namespace: ns, name: gvk.Kind + "/" + obj.GetName(), labels: podLabels})
	}
	return nil
}

// parsedObject is an object of one of the kinds inputs hold by the
// thousand, read for the index: PlanObjects reads them on every CPU before
// adding them in input order.
type parsedObject struct {
	gateway     *certs.Gateway
	certificate *cmapi.Certificate
	err         error
}

// parseObject reads a Gateway or a Certificate the way Add does; for
// other kinds it returns nothing, and Add reads them.
func parseObject(obj *unstructured.Unstructured, gvk schema.GroupVersionKind) parsedObject {
	switch {
	case certs.IsGateway(gvk):
		return parsedObject{gateway: certs.ParseGateway(obj)}
	case certs.IsCertificate(gvk):
		crt := &cmapi.Certificate{}
		if err := fromUnstructured(obj, crt); err != nil {
			return parsedObject{err: err}
		}
		return parsedObject{certificate: crt}
	}
	return parsedObject{}
}

// addParsed is Add for an object parseObject read.
func (x *Index) addParsed(obj *unstructured.Unstructured, parsed parsedObject) error {
	switch {
	case parsed.err != nil:
		return parsed.err
	case parsed.gateway != nil:
		x.AddGateway(parsed.gateway)
	case parsed.certificate != nil:
		x.AddCertificate(parsed.certificate)
	default:
		return x.Add(obj)
	}
	return nil
}

// AddGateway records a parsed certs.Gateway, replacing an earlier one with the
// same namespace and name.
func (x *Index) AddGateway(gw *certs.Gateway) {
	name := gw.Namespace + "/" + gw.Name
	if old, ok := x.gatewayByKey[name]; ok {
		for _, k := range x.gatewayKeys[name] {
			x.gateways[k] = slices.DeleteFunc(x.gateways[k], func(g *certs.Gateway) bool { return g == old })
		}
	}
	keys := certs.GatewayClaims(gw)
	x.gatewayByKey[name] = gw
	x.gatewayKeys[name] = keys
	for _, k := range keys {
		x.gateways[k] = append(x.gateways[k], gw)
	}
}

// AddCertificate records a Certificate.
func (x *Index) AddCertificate(crt *cmapi.Certificate) {
	x.certificates[types.NamespacedName{Namespace: crt.Namespace, Name: crt.Name}] = crt
	key := types.NamespacedName{Namespace: crt.Namespace, Name: crt.Spec.SecretName}
	list := slices.DeleteFunc(x.bySecret[key], func(c *cmapi.Certificate) bool { return c.Name == crt.Name })
	list = append(list, crt)
	slices.SortFunc(list, func(a, b *cmapi.Certificate) int { return strings.Compare(a.Name, b.Name) })
	x.bySecret[key] = list
}

func fromUnstructured(obj *unstructured.Unstructured, into any) error {
	err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, into)
	if err == nil {
		return nil
	}
	// The converter does not say where; decoding the same object as JSON
	// names the field, as the API server's decoder would.
	shape := &ShapeError{Kind: obj.GetKind(), Name: nsName(obj.GetNamespace(), obj.GetName()), Err: err}
	var typeErr *json.UnmarshalTypeError
	if raw, mErr := json.Marshal(obj.Object); mErr == nil && errors.As(json.Unmarshal(raw, into), &typeErr) {
		shape.Field, shape.Got, shape.Want = jsonPath(typeErr.Field), typeErr.Value, kindText(typeErr.Type.Kind())
	}
	return shape
}

// jsonPath drops from encoding/json's dotted field path the names of
// embedded Go structs (IssuerConfig in an Issuer's spec), which are no
// fields of the manifest: those start with an upper-case letter, JSON
// field names of Kubernetes APIs do not.
func jsonPath(goPath string) string {
	parts := strings.Split(goPath, ".")
	kept := parts[:0]
	for _, p := range parts {
		if p != "" && (p[0] < 'A' || p[0] > 'Z') {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ".")
}

// ShapeError is an object of a kind the planner reads whose fields do not
// have the types its API gives them (a list where a string belongs, say):
// the API server would reject it.
type ShapeError struct {
	Kind, Name string
	// Field is the dotted path of the field, when known; Got and Want are
	// the JSON type written and the type the API has ("a string").
	Field, Got, Want string
	Err              error
}

func (e *ShapeError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("failed to read %s %s: %v", e.Kind, e.Name, e.Err)
	}
	return fmt.Sprintf("failed to read %s %s: %s is a %s where its API has %s", e.Kind, e.Name, e.Field, e.Got, e.Want)
}

func (e *ShapeError) Unwrap() error { return e.Err }

func nsName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

func insertSorted(list []string, s string) []string {
	i, found := slices.BinarySearch(list, s)
	if found {
		return list
	}
	return slices.Insert(list, i, s)
}

// Issuer implements certs.Lookup.
func (x *Index) Issuer(_ context.Context, namespace, name string) (*cmapi.Issuer, bool) {
	iss, ok := x.issuers[types.NamespacedName{Namespace: namespace, Name: name}]
	return iss, ok
}

// IssuerNamespaces implements certs.Lookup.
func (x *Index) IssuerNamespaces(_ context.Context, name string) []string { return x.issuerNS[name] }

// ClusterIssuer implements certs.Lookup.
func (x *Index) ClusterIssuer(_ context.Context, name string) (*cmapi.ClusterIssuer, bool) {
	iss, ok := x.clusterIssuers[name]
	return iss, ok
}

// Certificate implements certs.Lookup.
func (x *Index) Certificate(_ context.Context, namespace, name string) (*cmapi.Certificate, bool) {
	crt, ok := x.certificates[types.NamespacedName{Namespace: namespace, Name: name}]
	return crt, ok
}

// CertificatesForSecret implements certs.Lookup.
func (x *Index) CertificatesForSecret(_ context.Context, namespace, secretName string) []*cmapi.Certificate {
	return x.bySecret[types.NamespacedName{Namespace: namespace, Name: secretName}]
}

// SecretExists implements certs.Lookup. An Index knows every Secret it was given,
// so its answer is always known.
func (x *Index) SecretExists(_ context.Context, namespace, name string) (exists, known bool) {
	_, exists = x.secrets[types.NamespacedName{Namespace: namespace, Name: name}]
	return exists, true
}

// Secret implements certs.Lookup; like SecretExists, its answer is always
// known.
func (x *Index) Secret(_ context.Context, namespace, name string) (*corev1.Secret, bool) {
	return x.secrets[types.NamespacedName{Namespace: namespace, Name: name}], true
}

// TrustBundle implements certs.Lookup. It returns any ConfigMap of the
// input, labelled or not, so the planner can say what the label is missing.
func (x *Index) TrustBundle(_ context.Context, namespace, name string) (*corev1.ConfigMap, bool) {
	cm, ok := x.configMaps[types.NamespacedName{Namespace: namespace, Name: name}]
	return cm, ok
}

// WorkloadNamespaces implements certs.Lookup.
func (x *Index) WorkloadNamespaces(_ context.Context, selector map[string]string) []string {
	sel := labels.SelectorFromSet(selector)
	var out []string
	for _, w := range x.workloads {
		if sel.Matches(w.labels) {
			out = insertSorted(out, w.namespace)
		}
	}
	sort.Strings(out)
	return out
}

// IngressClasses implements certs.Lookup: input with any IngressClass is
// taken to hold the cluster's IngressClasses.
func (x *Index) IngressClasses(context.Context) ([]*networkingv1.IngressClass, bool) {
	return x.ingressClasses, len(x.ingressClasses) > 0
}

// Workloads implements certs.Lookup.
func (x *Index) Workloads(_ context.Context, selector map[string]string) []certs.Workload {
	sel := labels.SelectorFromSet(selector)
	var out []certs.Workload
	for _, w := range x.workloads {
		if sel.Matches(w.labels) {
			out = append(out, certs.Workload{Namespace: w.namespace, Name: w.name, Labels: w.labels})
		}
	}
	return out
}

// Services implements certs.Lookup: input with any Service is taken to hold
// the Services of the gateway workloads.
func (x *Index) Services(_ context.Context, namespace string) ([]*corev1.Service, bool) {
	return x.services[namespace], len(x.services) > 0
}

// KnowsWorkloads implements certs.Lookup.
func (x *Index) KnowsWorkloads(context.Context) bool { return len(x.workloads) > 0 }

// Namespace implements certs.Lookup.
func (x *Index) Namespace(_ context.Context, name string) (*metav1.ObjectMeta, bool) {
	meta, ok := x.namespaces[name]
	return meta, ok
}

// HasGateway reports whether the index holds the Gateway "namespace/name".
func (x *Index) HasGateway(ref string) bool {
	_, ok := x.gatewayByKey[ref]
	return ok
}

// GatewaysClaiming implements certs.Lookup.
func (x *Index) GatewaysClaiming(_ context.Context, key string) []*certs.Gateway {
	return x.gateways[key]
}
