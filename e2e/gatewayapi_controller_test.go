package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/e2e/framework"
	"github.com/meshcert/meshcert/gatewayapi"
)

// gatewayAPIControllerNamespace has a policy allowing what the tests'
// Gateways name, so only what each test shows is wrong.
const gatewayAPIControllerNamespace = `
apiVersion: v1
kind: Namespace
metadata: {name: team-gw, annotations: {meshcert.io/allowed-hosts: "*.example.com", meshcert.io/allowed-issuers: ClusterIssuer/selfsigned}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: selfsigned}
spec: {selfSigned: {}}
`

// apiGatewayManifest is Gateway API Gateway team-gw/name with an HTTPS
// listener per Secret in secrets (listener and Secret named alike,
// host <secret>.example.com) and the annotations given (YAML flow-map
// entries).
func apiGatewayManifest(name, annotations string, secrets ...string) string {
	var listeners strings.Builder
	for i, s := range secrets {
		fmt.Fprintf(&listeners, "  - {name: %s, port: %d, protocol: HTTPS, hostname: %s.example.com, tls: {certificateRefs: [{name: %s-tls}]}}\n", s, 8443+i, s, s)
	}
	return `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: ` + name + `
  namespace: team-gw
  labels: {team: gw, applyset.kubernetes.io/part-of: demo}
  annotations: {` + annotations + `}
spec:
  gatewayClassName: istio
  listeners:
` + listeners.String()
}

// eventOn waits for an Event meshcert recorded on the Gateway API Gateway
// team-gw/name with reason and a note holding every part of want.
func eventOn(t *testing.T, c client.Client, name, reason string, want ...string) eventsv1.Event {
	t.Helper()
	var found eventsv1.Event
	eventually(t, reason+" Event on Gateway "+name, func(ctx context.Context) error {
		var list eventsv1.EventList
		if err := c.List(ctx, &list, client.InNamespace("team-gw")); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.ReportingController != "meshcert" || e.Reason != reason || e.Regarding.Name != name ||
				e.Regarding.Kind != gatewayapi.KindGateway || e.Regarding.APIVersion != gatewayapi.Group+"/v1" {
				continue
			}
			if !containsAll(e.Note, want) {
				continue
			}
			found = e
			return nil
		}
		return fmt.Errorf("none among %d Events", len(list.Items))
	})
	return found
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func teamCertificates(ctx context.Context, c client.Client) (map[string]cmapi.Certificate, error) {
	var list cmapi.CertificateList
	if err := c.List(ctx, &list, client.InNamespace("team-gw")); err != nil {
		return nil, err
	}
	out := map[string]cmapi.Certificate{}
	for _, crt := range list.Items {
		out[crt.Name] = crt
	}
	return out, nil
}

// TestGatewayAPIControllerReportsByDefault runs meshcert serve without its
// webhook configurations (bypassed) and with the Gateway API CRDs served
// when it starts, in the default mode (--gateway-api-certificates=shim):
// a Gateway stored with an annotation cert-manager's gateway-shim refuses
// gets a BadConfig Event from meshcert's controller, which kubectl describe
// shows, and meshcert writes no Certificate for it, nor for a valid one.
func TestGatewayAPIControllerReportsByDefault(t *testing.T) {
	cp := framework.Start(t, framework.WithoutControllerManager(), framework.WithoutCertManager())
	logStart(t, cp)
	require.NoError(t, cp.InstallGatewayAPI(t.Context()))
	startMeshcert(t, cp, framework.MeshcertConfig{WithoutWebhookConfigurations: true})
	c := cp.Client

	applyYAML(t, cp, gatewayAPIControllerNamespace)
	applyYAML(t, cp, apiGatewayManifest("valid", "cert-manager.io/cluster-issuer: selfsigned", "valid"))
	stderr := applyYAML(t, cp, apiGatewayManifest("typo", "cert-manager.io/cluster-issuer: selfsigned, cert-manager.io/duration: 90d", "typo"))
	require.NotContains(t, stderr, "MC1002", "no webhook judged the Gateway")

	t.Run("the Gateway stored with an error gets a BadConfig Event with the webhook's finding", func(t *testing.T) {
		e := eventOn(t, c, "typo", "BadConfig", "MC1002 metadata.annotations[cert-manager.io/duration]:", "creates no Certificate for this Gateway")
		assert.Equal(t, corev1.EventTypeWarning, e.Type)
		out, _, err := kubectlRun(t, cp, "", "describe", "gateways.gateway.networking.k8s.io", "-n", "team-gw", "typo")
		require.NoError(t, err)
		assert.Contains(t, out, "BadConfig", "kubectl describe shows it")
		assert.Contains(t, out, "MC1002")
	})
	t.Run("meshcert writes no Certificate, for the Gateway with the error or the valid one", func(t *testing.T) {
		// The Event comes after the plan; give a wrong write time to
		// show, then check none came.
		time.Sleep(2 * time.Second)
		crts, err := teamCertificates(t.Context(), c)
		require.NoError(t, err)
		assert.Empty(t, crts)
	})
}

// TestGatewayAPIControllerWritesWhatTheShimWould runs meshcert serve with
// --gateway-api-certificates=meshcert beside a cert-manager that runs
// without its gateway-shim: the Certificates meshcert writes for a Gateway
// API Gateway are the ones meshcert inject predicts (spec, labels but
// meshcert's mark, annotations, owner), cert-manager issues them, a
// listener removed deletes its Certificate and a Certificate made by hand
// under a listener's Secret name is never touched. The API server runs the
// OwnerReferencesPermissionEnforcement admission plugin, so the owner
// reference with blockOwnerDeletion, as the shim sets it, is allowed by
// meshcert's declared RBAC (update on the Gateway's finalizers).
func TestGatewayAPIControllerWritesWhatTheShimWould(t *testing.T) {
	cp := framework.Start(t, framework.WithoutControllerManager(),
		framework.WithAPIServerArgs("--enable-admission-plugins=OwnerReferencesPermissionEnforcement"))
	logStart(t, cp)
	require.NoError(t, cp.InstallGatewayAPI(t.Context()))
	startMeshcert(t, cp, framework.MeshcertConfig{Args: []string{"--gateway-api-certificates=meshcert"}})
	ctx := t.Context()
	c := cp.Client

	handMade := `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: hand-tls, namespace: team-gw}
spec: {secretName: hand-tls, dnsNames: [other.example.com], issuerRef: {name: selfsigned, kind: ClusterIssuer}}
`
	gateway := apiGatewayManifest("web", "cert-manager.io/cluster-issuer: selfsigned", "web", "admin", "hand")
	applyYAML(t, cp, gatewayAPIControllerNamespace+"\n---\n"+handMade)
	dryRun(t, cp, "the webhook warning that the hand-made Certificate keeps hand.example.com from a certificate (MC4002)", gateway,
		func(stderr string, err error) error {
			if err != nil {
				return fmt.Errorf("%w: %s", err, stderr)
			}
			if !strings.Contains(stderr, "MC4002") {
				return fmt.Errorf("no MC4002: %s", stderr)
			}
			return nil
		})
	applyYAML(t, cp, gateway)

	// What meshcert inject predicts from the same manifests, as objects.
	meshcert, err := framework.MeshcertBinary(ctx)
	require.NoError(t, err)
	injected := runJSONLines(t, []byte(gatewayAPIControllerNamespace+"\n---\n"+handMade+"\n---\n"+gateway), meshcert,
		"inject", "-f", "-", "--shim-certificates=object")
	predicted := map[string]*cmapi.Certificate{}
	for _, u := range decodeObjects(t, injected, "meshcert inject") {
		if u.GetKind() != cmapi.CertificateKind || len(u.GetOwnerReferences()) == 0 {
			continue
		}
		crt := &cmapi.Certificate{}
		require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, crt))
		predicted[crt.Name] = crt
	}
	require.ElementsMatch(t, []string{"web-tls", "admin-tls"}, keysOf(predicted), "inject predicts a Certificate per listener but the hand-made one's")

	stored := apiGatewayOf(t, c, "web")
	var crts map[string]cmapi.Certificate
	eventually(t, "meshcert's Certificates", func(ctx context.Context) error {
		if crts, err = teamCertificates(ctx, c); err != nil {
			return err
		}
		for name := range predicted {
			if _, ok := crts[name]; !ok {
				return fmt.Errorf("no Certificate %s yet", name)
			}
		}
		return nil
	})

	t.Run("each Certificate is the one meshcert inject predicts, with meshcert's mark", func(t *testing.T) {
		for name, want := range predicted {
			got := crts[name]
			want = want.DeepCopy()
			for i := range want.OwnerReferences {
				// inject cannot know the UID the API server gave.
				want.OwnerReferences[i].UID = stored.GetUID()
			}
			want.Labels[certs.LabelManagedBy] = certs.ManagedByValue
			type compared struct {
				Labels, Annotations map[string]string
				Owners              []metav1.OwnerReference
				Spec                cmapi.CertificateSpec
			}
			assert.True(t, equality.Semantic.DeepEqual(
				compared{want.Labels, want.Annotations, want.OwnerReferences, want.Spec},
				compared{got.Labels, got.Annotations, got.OwnerReferences, got.Spec}),
				"Certificate %s:\npredicted %s\nstored    %s", name, certificateJSON(want), certificateJSON(&got))
		}
		eventOn(t, c, "web", "CreateCertificate", "team-gw/web-tls")
	})
	t.Run("cert-manager issues them", func(t *testing.T) {
		for name := range predicted {
			waitCertificateReady(t, c, &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: "team-gw", Name: name}})
		}
	})
	t.Run("the hand-made Certificate of a listener's Secret is left alone", func(t *testing.T) {
		hand := crts["hand-tls"]
		assert.Equal(t, []string{"other.example.com"}, hand.Spec.DNSNames)
		assert.Empty(t, hand.OwnerReferences)
		assert.NotContains(t, hand.Labels, certs.LabelManagedBy)
	})
	t.Run("listeners removed delete the Certificate meshcert wrote for one, never the hand-made one or a Secret", func(t *testing.T) {
		applyYAML(t, cp, apiGatewayManifest("web", "cert-manager.io/cluster-issuer: selfsigned", "web"))
		eventOn(t, c, "web", "DeleteCertificate", "team-gw/admin-tls", "none of this Gateway's listeners names its Secret any more")
		now, err := teamCertificates(ctx, c)
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"web-tls", "hand-tls"}, keysOf(now))
		hand := now["hand-tls"]
		assert.Equal(t, crts["hand-tls"].Generation, hand.Generation, "the hand-made Certificate's spec was not written")
		assert.Equal(t, []string{"other.example.com"}, hand.Spec.DNSNames)
		assert.Empty(t, hand.OwnerReferences)
		assert.NotContains(t, hand.Labels, certs.LabelManagedBy)
		err = c.Get(ctx, client.ObjectKey{Namespace: "team-gw", Name: "admin-tls"}, &corev1.Secret{})
		assert.NoError(t, err, "the deleted Certificate's Secret stays")
	})
	t.Run("the Gateway itself is never written", func(t *testing.T) {
		for _, entry := range apiGatewayOf(t, c, "web").GetManagedFields() {
			assert.NotEqual(t, "meshcert", entry.Manager, "meshcert wrote %s of the Gateway", entry.Operation)
		}
	})
}

// apiGatewayOf reads Gateway API Gateway team-gw/name.
func apiGatewayOf(t *testing.T, c client.Client, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(gatewayapi.Group + "/v1")
	u.SetKind(gatewayapi.KindGateway)
	err := c.Get(t.Context(), client.ObjectKey{Namespace: "team-gw", Name: name}, u)
	if apierrors.IsNotFound(err) {
		t.Fatalf("no Gateway %s", name)
	}
	require.NoError(t, err)
	return u
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestGatewayAPIControllerHandsOverToTheShim shows what a cluster that
// turns cert-manager's gateway-shim on after meshcert wrote its Gateway API
// Certificates gets: meshcert (--gateway-api-certificates=meshcert) writes
// them and stops; cert-manager starts with its gateway-shim, which takes
// each over as its own (the Gateway is their controller), the same object,
// updated only to drop meshcert's mark, and issues it.
func TestGatewayAPIControllerHandsOverToTheShim(t *testing.T) {
	cp := framework.Start(t, framework.WithoutControllerManager(), framework.WithoutCertManager(),
		framework.WithCertManagerControllers(framework.GatewayShimController))
	logStart(t, cp)
	// Without webhook configurations: a stopped meshcert's would refuse
	// the shim's writes.
	m := startMeshcert(t, cp, framework.MeshcertConfig{Args: []string{"--gateway-api-certificates=meshcert"}, WithoutWebhookConfigurations: true})
	ctx := t.Context()
	c := cp.Client
	applyYAML(t, cp, gatewayAPIControllerNamespace)
	applyYAML(t, cp, apiGatewayManifest("web", "cert-manager.io/cluster-issuer: selfsigned", "web"))

	var written cmapi.Certificate
	eventually(t, "meshcert's Certificate", func(ctx context.Context) error {
		return c.Get(ctx, client.ObjectKey{Namespace: "team-gw", Name: "web-tls"}, &written)
	})
	require.Equal(t, certs.ManagedByValue, written.Labels[certs.LabelManagedBy])
	require.NoError(t, m.Stop())
	require.NoError(t, cp.StartCertManager(ctx))

	var adopted cmapi.Certificate
	eventually(t, "the shim's update of the Certificate", func(ctx context.Context) error {
		if err := c.Get(ctx, client.ObjectKey{Namespace: "team-gw", Name: "web-tls"}, &adopted); err != nil {
			return err
		}
		if _, marked := adopted.Labels[certs.LabelManagedBy]; marked {
			return errors.New("still marked as meshcert's")
		}
		return nil
	})
	assert.Equal(t, written.UID, adopted.UID, "the same Certificate, not a new one")
	assert.Equal(t, map[string]string{"team": "gw"}, adopted.Labels, "the Gateway's labels, as the shim writes them")
	assert.Equal(t, written.Spec, adopted.Spec)
	assert.Equal(t, written.OwnerReferences, adopted.OwnerReferences)
	waitCertificateReady(t, c, &adopted)
	crts, err := teamCertificates(ctx, c)
	require.NoError(t, err)
	assert.Len(t, crts, 1, "the shim created no other")
}
