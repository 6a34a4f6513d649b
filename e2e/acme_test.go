package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/cert-manager/cert-manager/pkg/util/pki"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/e2e/framework"
)

// acmeOrderTimeout bounds one ACME issuance: cert-manager waits a fixed 60s
// after its DNS-01 self-check passes (the record's TTL), then Pebble
// validates and signs.
const acmeOrderTimeout = 4 * time.Minute

// applyYAML applies manifests with kubectl, retrying while meshcert's
// caches catch up, and returns kubectl's stderr (its warnings).
func applyYAML(t *testing.T, cp *framework.ControlPlane, manifests string) string {
	t.Helper()
	var warnings string
	eventually(t, "kubectl apply", func(context.Context) error {
		_, stderr, err := kubectlRun(t, cp, manifests, "apply", "-f", "-")
		if err != nil {
			return fmt.Errorf("%w: %s", err, stderr)
		}
		warnings = stderr
		return nil
	})
	return warnings
}

// waitIssuerReady waits until cert-manager registered the ACME account.
func waitIssuerReady(t *testing.T, cp *framework.ControlPlane, name string) {
	t.Helper()
	eventually(t, "ClusterIssuer "+name+" Ready", func(ctx context.Context) error {
		issuer := &cmapi.ClusterIssuer{}
		if err := cp.Client.Get(ctx, client.ObjectKey{Name: name}, issuer); err != nil {
			return err
		}
		for _, c := range issuer.Status.Conditions {
			if c.Type == cmapi.IssuerConditionReady && c.Status == cmmeta.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", issuer.Status.Conditions)
	})
}

// verifyIssuedByPebble checks that the Secret's chain verifies against the
// root Pebble reports on its management interface, for every host.
func verifyIssuedByPebble(t *testing.T, cp *framework.ControlPlane, secretName string, hosts ...string) {
	t.Helper()
	secret := &corev1.Secret{}
	require.NoError(t, cp.Client.Get(t.Context(), client.ObjectKey{Namespace: "istio-system", Name: secretName}, secret))
	chain, err := pki.DecodeX509CertificateChainBytes(secret.Data[corev1.TLSCertKey])
	require.NoError(t, err)
	rootPEM, err := cp.ACME.Roots(t.Context())
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(rootPEM), "Pebble's root parses")
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	for _, host := range hosts {
		_, err := chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: intermediates})
		require.NoError(t, err, "the issued certificate verifies for %s against Pebble's root", host)
	}
	_, err = chain[0].Verify(x509.VerifyOptions{DNSName: "not-ordered." + framework.ACMEZone, Roots: roots, Intermediates: intermediates})
	assert.Error(t, err, "a name that was not ordered does not verify")
}

// TestACMEDNS01WildcardOnTheRealStack: a Gateway serving a name and its
// wildcard from an ACME ClusterIssuer with an RFC2136 DNS-01 solver gets,
// through meshcert, a Certificate that cert-manager orders from Pebble:
// cert-manager writes the TXT records into the stack's name server with
// TSIG-signed updates, checks they resolve, Pebble validates them, and the
// chain verifies against Pebble's root for every host.
func TestACMEDNS01WildcardOnTheRealStack(t *testing.T) {
	cp := framework.Start(t, framework.WithACME())
	startMeshcert(t, cp, framework.MeshcertConfig{})
	applyYAML(t, cp, cp.ACME.DNS01ClusterIssuerYAML("pebble-dns"))
	waitIssuerReady(t, cp, "pebble-dns")

	hosts := []string{"shop." + framework.ACMEZone, "*.shop." + framework.ACMEZone}
	warnings := applyYAML(t, cp, cp.ACME.GatewayYAML("acme-shop", "shop", "pebble-dns", `"`+hosts[0]+`"`, `"`+hosts[1]+`"`))
	assert.NotContains(t, warnings, "MC", "a DNS-01 issuer that can issue every name draws no finding")

	credential := certs.CredentialName("acme-shop", "shop", "https")
	crt := readyWithin(t, acmeOrderTimeout, cp.Client, "istio-system", credential)
	assert.ElementsMatch(t, hosts, crt.Spec.DNSNames)
	verifyIssuedByPebble(t, cp, crt.Spec.SecretName, hosts[0], "any.shop."+framework.ACMEZone)
	eventually(t, "cert-manager removed its TXT records", func(context.Context) error {
		if values := cp.ACME.DNS.TXT("_acme-challenge.shop." + framework.ACMEZone); len(values) > 0 {
			return fmt.Errorf("TXT records left: %v", values)
		}
		return nil
	})
}

// TestACMEHTTP01ThroughIstioOnTheRealStack: an ACME ClusterIssuer whose
// HTTP-01 solver uses the IngressClass Istio serves. meshcert's Certificate
// leads cert-manager to create the solver's Pod, Service and Ingress; the
// test plays the kubelet and serves what the solver Pod would, on port 80
// where the name resolves; cert-manager's self-check and Pebble's
// validation both reach it and the Certificate becomes Ready. A solver
// Istio would not serve is warned about before anything is applied.
func TestACMEHTTP01ThroughIstioOnTheRealStack(t *testing.T) {
	cp := framework.Start(t, framework.WithACME())
	startMeshcert(t, cp, framework.MeshcertConfig{})
	host := "web." + framework.ACMEZone
	stopSolvers, err := cp.ServeHTTP01Solvers(t.Context(), host)
	require.NoError(t, err)
	t.Cleanup(func() { t.Logf("HTTP-01 challenges answered per host: %v", stopSolvers()) })

	applyYAML(t, cp, cp.ACME.HTTP01ClusterIssuerYAML("pebble-http"))
	waitIssuerReady(t, cp, "pebble-http")

	warnings := applyYAML(t, cp, cp.ACME.GatewayYAML("acme-web", "web", "pebble-http", host))
	assert.NotContains(t, warnings, "MC", "an HTTP-01 solver Istio serves draws no finding")
	credential := certs.CredentialName("acme-web", "web", "https")
	eventuallyWithin(t, acmeOrderTimeout, "the solver Ingress with Istio's class", func(ctx context.Context) error {
		var ingresses networkingv1.IngressList
		if err := cp.Client.List(ctx, &ingresses, client.InNamespace("istio-system")); err != nil {
			return err
		}
		for _, ing := range ingresses.Items {
			if ing.Spec.IngressClassName != nil && *ing.Spec.IngressClassName == "istio" &&
				len(ing.Spec.Rules) == 1 && ing.Spec.Rules[0].Host == host {
				return nil
			}
		}
		return fmt.Errorf("no solver Ingress for %s among %d", host, len(ingresses.Items))
	})
	crt := readyWithin(t, acmeOrderTimeout, cp.Client, "istio-system", credential)
	verifyIssuedByPebble(t, cp, crt.Spec.SecretName, host)

	t.Run("a shim annotation's override leaves the Certificate when the annotation leaves the Gateway", func(t *testing.T) {
		override := func(ctx context.Context) (string, bool, error) {
			crt := &cmapi.Certificate{}
			if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: credential}, crt); err != nil {
				return "", false, err
			}
			v, ok := crt.Annotations["acme.cert-manager.io/http01-override-ingress-ingressclassname"]
			return v, ok, nil
		}
		kubectl(t, cp, "annotate", "-n", "acme-web", "gateways.networking.istio.io", "web", "acme.cert-manager.io/http01-ingress-ingressclassname=istio")
		eventually(t, "the override on the Certificate", func(ctx context.Context) error {
			v, ok, err := override(ctx)
			if err != nil || !ok || v != "istio" {
				return fmt.Errorf("override %q (present %t): %w", v, ok, err)
			}
			return nil
		})
		kubectl(t, cp, "annotate", "-n", "acme-web", "gateways.networking.istio.io", "web", "acme.cert-manager.io/http01-ingress-ingressclassname-")
		eventually(t, "the override gone from the Certificate", func(ctx context.Context) error {
			v, ok, err := override(ctx)
			if err != nil {
				return err
			}
			if ok {
				return fmt.Errorf("override %q still there", v)
			}
			return nil
		})
	})
	t.Run("a solver Istio would not serve is warned about before anything is applied", func(t *testing.T) {
		applyYAML(t, cp, cp.ACME.ClusterIssuerYAML("pebble-nginx", `    - http01:
        ingress: {ingressClassName: nginx}
`))
		waitIssuerReady(t, cp, "pebble-nginx")
		gateway := cp.ACME.GatewayYAML("acme-nginx", "web", "pebble-nginx", "nginx."+framework.ACMEZone)
		// A dry run creates no namespace, so the Gateway's must exist.
		namespace, _, _ := strings.Cut(gateway, "---")
		applyYAML(t, cp, namespace)
		eventually(t, "meshcert warns on a dry run", func(context.Context) error {
			_, stderr, err := kubectlRun(t, cp, gateway, "apply", "--dry-run=server", "-f", "-")
			if err != nil {
				return fmt.Errorf("%w: %s", err, stderr)
			}
			if !strings.Contains(stderr, "Warning:") || !strings.Contains(stderr, "MC5010") {
				return fmt.Errorf("no MC5010 warning yet: %s", stderr)
			}
			// kubectl prints the start of the message.
			assert.Contains(t, stderr, `ClusterIssuer "pebble-nginx"`)
			return nil
		})
	})
	t.Run("meshcert's verdict on each solver is Istio's on the Ingress cert-manager creates", func(t *testing.T) {
		compareSolversWithIstio(t, cp)
	})
}

// solverCases are HTTP-01 ingress solvers as users write them, each with
// the host of the Gateway that uses it, for the comparison with Istio.
var solverCases = []struct{ issuer, ingress, host string }{
	{"class-istio", "{class: istio}", "class-istio"},
	{"class-nginx", "{class: nginx}", "class-nginx"},
	{"classname-istio", "{ingressClassName: istio}", "classname-istio"},
	{"classname-nginx", "{ingressClassName: nginx}", "classname-nginx"},
	{"classname-missing", "{ingressClassName: missing}", "classname-missing"},
	{"no-class", "{}", "no-class"},
}

// compareSolversWithIstio: for each solver, meshcert's verdict on apply
// (an MC5010 warning, or none) must be Istio's own on the Ingress
// cert-manager then creates for it: Istio's Ingress controller (the
// istio-oracle tool) decides whether istiod serves it.
func compareSolversWithIstio(t *testing.T, cp *framework.ControlPlane) {
	t.Helper()
	applyYAML(t, cp, `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
`)
	meshcertServes := map[string]bool{}
	for _, c := range solverCases {
		issuer := "pebble-" + c.issuer
		applyYAML(t, cp, cp.ACME.ClusterIssuerYAML(issuer, "    - http01:\n        ingress: "+c.ingress+"\n"))
		waitIssuerReady(t, cp, issuer)
		host := c.host + "." + framework.ACMEZone
		warnings := applyYAML(t, cp, cp.ACME.GatewayYAML("solver-"+c.issuer, "web", issuer, host))
		meshcertServes[host] = !strings.Contains(warnings, "MC5010")
	}

	// One snapshot of every Ingress and IngressClass, taken once each case
	// has its solver Ingress; the challenges stay pending (the test serves
	// none of these hosts), so the Ingresses stay.
	var snapshot []byte
	byName := map[string]string{}
	eventually(t, "a solver Ingress for every case", func(context.Context) error {
		stream := listItems(t, kubectl(t, cp, "get", "ingresses,ingressclasses", "-A", "-o", "yaml"))
		clear(byName)
		for _, obj := range stream.objects {
			if obj.Kind == "Ingress" && len(obj.Spec.Rules) > 0 {
				byName[obj.Metadata.Name] = obj.Spec.Rules[0].Host
			}
		}
		for host := range meshcertServes {
			if !slices.Contains(slices.Collect(maps.Values(byName)), host) {
				return fmt.Errorf("no solver Ingress for %s yet", host)
			}
		}
		snapshot = stream.yaml
		return nil
	})
	tools, err := framework.ToolsFromEnv()
	require.NoError(t, err)
	istioServes := map[string]bool{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(runJSONLines(t, snapshot, tools.IstioOracle, "ingress"))), "\n") {
		var verdict struct {
			Name   string `json:"name"`
			Served bool   `json:"served"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &verdict))
		if host, ok := byName[verdict.Name]; ok {
			istioServes[host] = istioServes[host] || verdict.Served
		}
	}
	for host, served := range meshcertServes {
		assert.Equal(t, istioServes[host], served, "meshcert and Istio disagree on whether istiod serves the solver Ingress for %s", host)
	}
	// Both verdicts occur, so the comparison can fail either way.
	assert.Contains(t, istioServes, "class-istio."+framework.ACMEZone)
	assert.True(t, istioServes["class-istio."+framework.ACMEZone])
	assert.False(t, istioServes["class-nginx."+framework.ACMEZone])
}

// kubeObject is what compareSolversWithIstio reads of an item.
type kubeObject struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Rules []struct {
			Host string `json:"host"`
		} `json:"rules"`
	} `json:"spec"`
}

// kubeItems is a kubectl List as a YAML stream of its items, and the items.
type kubeItems struct {
	yaml    []byte
	objects []kubeObject
}

func listItems(t *testing.T, list string) kubeItems {
	t.Helper()
	var parsed struct {
		Items []json.RawMessage `json:"items"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(list), &parsed))
	var out kubeItems
	for _, item := range parsed.Items {
		data, err := yaml.JSONToYAML(item)
		require.NoError(t, err)
		out.yaml = append(append(out.yaml, "---\n"...), data...)
		var obj kubeObject
		require.NoError(t, json.Unmarshal(item, &obj))
		out.objects = append(out.objects, obj)
	}
	return out
}
