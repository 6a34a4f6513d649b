package controller

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/istiooperator"
	"github.com/meshcert/meshcert/meshca"
)

// Event reasons of istiod's CA.
const (
	// ReasonRootRotation: meshcert wrote istiod's cacerts; the note says the
	// rotation's step and what it waits for next.
	ReasonRootRotation = "RootRotation"
	// ReasonCACertsNotComposed: meshcert cannot compose cacerts from what
	// cert-manager issued.
	ReasonCACertsNotComposed = "CACertsNotComposed"
	// ReasonRootRotationWaiting: the rotation waits for something else
	// (istiod, a peer, the drain); the note says what.
	ReasonRootRotationWaiting = "RootRotationWaiting"
	// ReasonPublishedRootsNotOwned: the ConfigMap meshcert publishes the
	// cluster's roots in exists and is not meshcert's.
	ReasonPublishedRootsNotOwned = "PublishedRootsNotOwned"
)

// certManagerAnnotationPrefix starts cert-manager's annotations on the
// Secret it wrote for meshcert's Certificate cacerts before meshcert
// composed the Secret: they describe a certificate it no longer holds alone.
const certManagerAnnotationPrefix = "cert-manager.io/"

// composeCACerts makes istiod's Secret cacerts what package meshca decides
// from what the cluster holds now: the intermediate cert-manager issued,
// the Secret as it is, the roots istiod publishes and what peer clusters
// published. It then publishes this cluster's roots for its peers. It
// returns when to look again.
func (r *IstioOperatorReconciler) composeCACerts(ctx context.Context, obj *unstructured.Unstructured, plan *istiooperator.Plan) (time.Duration, error) {
	namespace := plan.IstiodNamespace
	observed := meshca.Observed{Now: time.Now(), Drain: plan.WorkloadCertificateTTL, Propagation: plan.RotationPropagation, MultiRoot: plan.MultiRoot}
	issued, err := r.readSecret(ctx, namespace, meshca.IssuedSecret)
	if apierrors.IsForbidden(err) {
		return 0, nil // cacertsFree said what to grant, as an Event
	}
	if err != nil {
		return 0, err
	}
	if issued != nil {
		observed.Issued = material(issued, observed.Now)
	}
	current, err := r.readSecret(ctx, namespace, meshca.CACertsSecret)
	if apierrors.IsForbidden(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if current != nil {
		found := istiooperator.CACertsFound{Namespace: namespace, Secret: current}
		if obstacles := istiooperator.CACertsObstacles(r.kind(), client.ObjectKeyFromObject(obj), found); len(obstacles) > 0 {
			return 0, nil // cacertsFree said so already, as Events
		}
		observed.Current = composed(current, observed.Now)
	}
	rootCM := &corev1.ConfigMap{}
	switch err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: meshca.IstioRootConfigMap}, rootCM); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return 0, fmt.Errorf("failed to get ConfigMap %s/%s: %w", namespace, meshca.IstioRootConfigMap, err)
	default:
		observed.Loaded, observed.LoadedFound = []byte(rootCM.Data[meshca.IstioRootKey]), true
	}
	if observed.Peers, err = r.peers(ctx, namespace, plan.ClusterName, observed.Now); err != nil {
		return 0, err
	}

	decision := meshca.Plan(observed)
	key := client.ObjectKeyFromObject(obj)
	if decision.Problem != "" {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, ReasonCACertsNotComposed, "Compose", "Secret %s/%s: %s", namespace, meshca.IssuedSecret, decision.Problem)
		return decision.RecheckAfter, nil
	}
	if decision.Write != nil {
		if err := r.writeCACerts(ctx, obj, namespace, current, decision.Write); err != nil {
			return 0, err
		}
		r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, ReasonRootRotation, "Compose", "%s", rotationNote(namespace, decision, plan))
	}
	r.Metrics.rotationAt(r.kind().GVK.Kind, key.Namespace, key.Name, meshca.StepName(decision.Phase))
	if len(decision.Roots) > 0 {
		if err := r.publishRoots(ctx, obj, namespace, plan.ClusterName, decision, observed); err != nil {
			return 0, err
		}
	}
	return decision.RecheckAfter, nil
}

// rotationNote says what was written and what comes next.
func rotationNote(namespace string, d meshca.Decision, plan *istiooperator.Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "wrote istiod's CA Secret %s/%s", namespace, meshca.CACertsSecret)
	switch d.Phase {
	case meshca.Trusting:
		b.WriteString(": root rotation, trusting the new root beside the old one, istiod still signing with the old intermediate")
	case meshca.Switching:
		fmt.Fprintf(&b, ": root rotation, istiod signing with the new intermediate, the old root trusted for the workload certificate lifetime (%s, from %s)", plan.WorkloadCertificateTTL, plan.WorkloadCertificateTTLFrom)
	default:
	}
	if d.Waiting != "" {
		b.WriteString("; waiting for " + d.Waiting)
	}
	return b.String()
}

// readSecret gets a Secret live (the cache never holds Secrets); nil when
// it does not exist.
func (r *IstioOperatorReconciler) readSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	secret := &corev1.Secret{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to get Secret %s/%s: %w", namespace, name, err)
	}
	return secret, nil
}

// material reads a CA Secret in the layout cert-manager and istiod share.
func material(secret *corev1.Secret, now time.Time) *meshca.Material {
	roots, _ := certs.ParseTrustAnchors(secret.Data[corev1.ServiceAccountRootCAKey], now)
	return &meshca.Material{Chain: secret.Data[corev1.TLSCertKey], Key: secret.Data[corev1.TLSPrivateKeyKey], Roots: roots}
}

// composed reads Secret cacerts with the state meshcert keeps on it.
func composed(secret *corev1.Secret, now time.Time) *meshca.Current {
	cur := &meshca.Current{
		Material: *material(secret, now),
		RootFile: secret.Data[corev1.ServiceAccountRootCAKey],
		Phase:    meshca.Phase(secret.Annotations[meshca.AnnotationPhase]),
		Retiring: secret.Annotations[meshca.AnnotationRetiringRoot],
	}
	if at, err := time.Parse(time.RFC3339, secret.Annotations[meshca.AnnotationTrusted]); err == nil {
		cur.Trusted = at
	}
	if at, err := time.Parse(time.RFC3339, secret.Annotations[meshca.AnnotationSwitched]); err == nil {
		cur.Switched = at
	}
	return cur
}

// writeCACerts creates or updates Secret cacerts with the contents. An
// update carries the resourceVersion read, so a concurrent change fails it
// and the next reconcile decides again.
func (r *IstioOperatorReconciler) writeCACerts(ctx context.Context, obj *unstructured.Unstructured, namespace string, current *corev1.Secret, c *meshca.Contents) error {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: meshca.CACertsSecret, Namespace: namespace},
		Type:       corev1.SecretTypeTLS,
	}
	if current != nil {
		secret = current.DeepCopy()
	}
	key := client.ObjectKeyFromObject(obj)
	secret.Labels = maps.Clone(secret.Labels)
	if secret.Labels == nil {
		secret.Labels = map[string]string{}
	}
	maps.Copy(secret.Labels, r.kind().CertificateLabels(key.Namespace, key.Name))
	annotations := map[string]string{}
	for k, v := range secret.Annotations {
		if !strings.HasPrefix(k, certManagerAnnotationPrefix) && k != meshca.AnnotationPhase && k != meshca.AnnotationRetiringRoot && k != meshca.AnnotationTrusted && k != meshca.AnnotationSwitched {
			annotations[k] = v
		}
	}
	annotations[r.kind().OwnerAnnotation()] = r.kind().Key(key.Namespace, key.Name)
	if c.Phase != meshca.Steady {
		annotations[meshca.AnnotationPhase] = string(c.Phase)
	}
	if c.Retiring != "" {
		annotations[meshca.AnnotationRetiringRoot] = c.Retiring
	}
	if !c.Trusted.IsZero() {
		annotations[meshca.AnnotationTrusted] = c.Trusted.UTC().Format(time.RFC3339)
	}
	if !c.Switched.IsZero() {
		annotations[meshca.AnnotationSwitched] = c.Switched.UTC().Format(time.RFC3339)
	}
	secret.Annotations = annotations
	// cert-manager's Secret, taken over, may be owned by its Certificate
	// (--enable-certificate-owner-ref): istiod's CA must not go when that
	// Certificate does. Its other outputs (tls-combined.pem, key.der) hold
	// the old key.
	secret.OwnerReferences = slices.DeleteFunc(slices.Clone(secret.OwnerReferences), func(ref metav1.OwnerReference) bool {
		return ref.Kind == cmapi.CertificateKind && strings.HasPrefix(ref.APIVersion, cmapi.SchemeGroupVersion.Group+"/")
	})
	secret.Data = map[string][]byte{}
	secret.Data[corev1.TLSCertKey] = c.Chain
	secret.Data[corev1.TLSPrivateKeyKey] = c.Key
	secret.Data[corev1.ServiceAccountRootCAKey] = c.RootFile
	if current == nil {
		if err := r.Client.Create(ctx, secret); err != nil {
			return fmt.Errorf("failed to create Secret %s/%s: %w", namespace, meshca.CACertsSecret, err)
		}
		return nil
	}
	if err := r.Client.Update(ctx, secret); err != nil {
		return fmt.Errorf("failed to update Secret %s/%s: %w", namespace, meshca.CACertsSecret, err)
	}
	return nil
}

// peers reads the mesh CAs other clusters published, as copied into
// istiod's namespace (they keep label meshcert.io/mesh-ca; the cache holds
// them as trust bundles). This cluster's own is skipped.
func (r *IstioOperatorReconciler) peers(ctx context.Context, namespace, cluster string, now time.Time) ([]meshca.Peer, error) {
	var list corev1.ConfigMapList
	if err := r.Client.List(ctx, &list, client.InNamespace(namespace), client.HasLabels{meshca.LabelMeshCA}); err != nil {
		return nil, fmt.Errorf("failed to list published mesh CAs in %s: %w", namespace, err)
	}
	var out []meshca.Peer
	for _, cm := range list.Items {
		peer := cm.Labels[meshca.LabelMeshCA]
		if peer == cluster {
			continue
		}
		roots, _ := certs.ParseTrustAnchors([]byte(cm.Data[meshca.PublishedRootsKey]), now)
		trusted, _ := certs.ParseTrustAnchors([]byte(cm.Data[meshca.PublishedTrustedKey]), now)
		out = append(out, meshca.Peer{Cluster: peer, Roots: roots, Trusted: trusted})
	}
	return out, nil
}

// PublishedConfigMapName is the ConfigMap a cluster publishes its mesh CA
// in for its peers.
func PublishedConfigMapName(cluster string) string {
	if cluster == "" {
		return meshca.PublishedConfigMapPrefix
	}
	return meshca.PublishedConfigMapPrefix + "-" + cluster
}

// publishRoots writes the ConfigMap peers copy: the roots this cluster's
// workload certificates chain to (ca.crt, so it is also a trust bundle),
// the roots its istiod hands out now, and the rotation's step and what it
// waits for. A new wait is also said as an Event. One that is not
// meshcert's is left alone.
func (r *IstioOperatorReconciler) publishRoots(ctx context.Context, obj *unstructured.Unstructured, namespace, cluster string, d meshca.Decision, o meshca.Observed) error {
	name := PublishedConfigMapName(cluster)
	key := client.ObjectKeyFromObject(obj)
	owner := r.kind().Key(key.Namespace, key.Name)
	var rootsPEM bytes.Buffer
	for _, root := range d.Roots {
		rootsPEM.WriteString(root.PEM)
	}
	data := map[string]string{
		meshca.PublishedRootsKey:   rootsPEM.String(),
		meshca.PublishedStepKey:    meshca.StepName(d.Phase),
		meshca.PublishedWaitingKey: d.Waiting,
	}
	if o.LoadedFound {
		data[meshca.PublishedTrustedKey] = string(o.Loaded)
	}
	announce := func(previous string) {
		if d.Waiting != "" && d.Waiting != previous && d.Write == nil {
			r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, ReasonRootRotationWaiting, "Compose",
				"root rotation (%s): waiting for %s", meshca.StepName(d.Phase), d.Waiting)
		}
	}
	cm := &corev1.ConfigMap{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Namespace:   namespace,
				Labels:      map[string]string{meshca.LabelMeshCA: cluster, certs.LabelTrustBundle: "true", certs.LabelManagedBy: certs.ManagedByValue},
				Annotations: map[string]string{r.kind().OwnerAnnotation(): owner},
			},
			Data: data,
		}
		if err := r.Client.Create(ctx, cm); err != nil {
			return fmt.Errorf("failed to create ConfigMap %s/%s: %w", namespace, name, err)
		}
		announce("")
		return nil
	case err != nil:
		return fmt.Errorf("failed to get ConfigMap %s/%s: %w", namespace, name, err)
	}
	if cm.Annotations[r.kind().OwnerAnnotation()] != owner {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, ReasonPublishedRootsNotOwned, "Publish",
			"ConfigMap %s/%s exists and is not the one meshcert publishes this cluster's roots in for %s; meshcert leaves it alone, so peers cannot follow this cluster's root rotation: remove it, or give the cluster another values.global.multiCluster.clusterName",
			namespace, name, r.kind().GVK.Kind+" "+owner)
		return nil
	}
	if maps.Equal(cm.Data, data) {
		return nil
	}
	previous := cm.Data[meshca.PublishedWaitingKey]
	cm.Data = data
	if err := r.Client.Update(ctx, cm); err != nil {
		return fmt.Errorf("failed to update ConfigMap %s/%s: %w", namespace, name, err)
	}
	announce(previous)
	return nil
}
