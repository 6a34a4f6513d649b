// Package istiooperator checks Istio's install-time IstioOperator resource
// (install.istio.io/v1alpha1), the input of `istioctl install -f`: that
// spec.meshConfig is a MeshConfig Istio accepts and that istiod's certificate
// settings are where istiod reads them. Like certs, it is pure: an object in,
// findings out.
package istiooperator

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/internal/jsonvalue"
)

// GVK is the IstioOperator's one API version.
var GVK = schema.GroupVersionKind{Group: "install.istio.io", Version: "v1alpha1", Kind: "IstioOperator"}

const (
	pilotCertProviderEnv = "PILOT_CERT_PROVIDER"

	// The values istiod acts on, from istio/istio pkg/config/constants
	// (CertProvider*) and pilot/pkg/bootstrap (initIstiodCerts).
	certProviderIstiod           = "istiod"
	certProviderCustom           = "custom"
	certProviderNone             = "none"
	certProviderKubernetes       = "kubernetes"
	certProviderK8sSignerPrefix  = "k8s.io/"
	validPilotCertProvidersQuote = `"istiod" (the default), "custom", "none" or "k8s.io/<signer-name>"`
)

// Check checks an object that installs istiod (see Kinds): that its
// meshConfig decodes as Istio's MeshConfig, that PILOT_CERT_PROVIDER is
// not set on gateways, and that istiod's certificate provider is one istiod
// accepts. Anything else gives nil. It is pure and never panics, so the
// webhook and the offline CLI can run it on any input.
func Check(obj *unstructured.Unstructured) finding.Findings {
	if obj == nil || obj.Object == nil {
		return nil
	}
	kind, ok := KindOf(obj.GroupVersionKind())
	if !ok {
		return nil
	}
	c := &checker{Builder: finding.New(kind.Ref(obj))}
	rawSpec, ok := obj.Object["spec"]
	if !ok || rawSpec == nil {
		return nil
	}
	spec, ok := rawSpec.(map[string]any)
	if !ok {
		c.Errorf(finding.CodeInvalidMeshConfig, specPath, "spec must be a map, not %s: nothing can read this %s; write spec as a YAML mapping", jsonvalue.Describe(rawSpec), kind.GVK.Kind)
		return c.Findings()
	}
	parent, ok := meshConfigParent(spec, kind)
	if ok {
		c.checkMeshConfig(parent, kind.MeshConfigPath())
	}
	if kind.components {
		c.checkComponents(spec, specPath.Child("components"))
		// istioctl renders spec.values.meshConfig too, under spec.meshConfig.
		if values, ok := spec["values"].(map[string]any); ok {
			c.checkMeshConfig(values, specPath.Child("values", "meshConfig"))
		}
	}
	c.checkValues(spec, specPath.Child("values"))
	findings := c.Findings()
	findings.Sort()
	return findings
}

// meshConfigParent returns the map of spec holding meshConfig; false when
// a map on the way has another type (the API server or istioctl refuses
// that itself).
func meshConfigParent(spec map[string]any, kind Kind) (map[string]any, bool) {
	parent := spec
	for _, f := range kind.meshConfigParent {
		next, ok := parent[f].(map[string]any)
		if !ok {
			return nil, parent[f] == nil
		}
		parent = next
	}
	return parent, true
}

func (c *checker) checkComponents(spec map[string]any, path *field.Path) {
	components, ok := spec["components"].(map[string]any)
	if !ok {
		return
	}
	for _, kind := range []string{"ingressGateways", "egressGateways"} {
		gateways, _ := components[kind].([]any)
		for i, g := range gateways {
			gw, _ := g.(map[string]any)
			gwPath := path.Child(kind).Index(i)
			name, _ := gw["name"].(string)
			forEachPilotCertProviderEnv(gw, gwPath, func(envPath *field.Path, _ any) {
				c.Errorf(finding.CodePilotCertProviderOnGateway, envPath, "%s", gatewayEnvMessage(kind, name))
			})
		}
	}
	pilot, _ := components["pilot"].(map[string]any)
	forEachPilotCertProviderEnv(pilot, path.Child("pilot"), func(envPath *field.Path, value any) {
		c.checkPilotCertProvider(value, envPath.Child("value"))
	})
}

// forEachPilotCertProviderEnv calls fn for each PILOT_CERT_PROVIDER entry in
// component.k8s.env. Shapes it cannot read are skipped: istioctl rejects
// them itself and they say nothing about certificates.
func forEachPilotCertProviderEnv(component map[string]any, path *field.Path, fn func(*field.Path, any)) {
	k8s, _ := component["k8s"].(map[string]any)
	env, _ := k8s["env"].([]any)
	for j, e := range env {
		entry, _ := e.(map[string]any)
		if name, _ := entry["name"].(string); name == pilotCertProviderEnv {
			fn(path.Child("k8s", "env").Index(j), entry["value"])
		}
	}
}

func gatewayEnvMessage(kind, name string) string {
	which := "an ingress gateway"
	if kind == "egressGateways" {
		which = "an egress gateway"
	}
	if name != "" {
		which += fmt.Sprintf(" (%q)", name)
	}
	return fmt.Sprintf("PILOT_CERT_PROVIDER is set on %s, where it has no effect on the gateway's certificates: "+
		"it is an istiod setting that chooses how istiod gets its own serving certificate, and gateways load TLS "+
		"certificates from the Secret named in a Gateway's credentialName. Istio already passes istiod's value to "+
		"every proxy, so a different value here only breaks how the gateway verifies istiod. Remove this env entry "+
		"and set values.global.pilotCertProvider (or PILOT_CERT_PROVIDER in spec.components.pilot.k8s.env) instead", which)
}

// checkValues checks the pilot certificate provider in values. istioctl's
// chart renders values.global.pilotCertProvider as istiod's
// PILOT_CERT_PROVIDER and values.pilot.env after it, so a
// values.pilot.env.PILOT_CERT_PROVIDER is what istiod reads (it is also
// the later of two entries, which a components.pilot.k8s.env entry does not
// replace: that patch replaces the first one).
func (c *checker) checkValues(spec map[string]any, path *field.Path) {
	values, _ := spec["values"].(map[string]any)
	global, _ := values["global"].(map[string]any)
	if value, ok := global["pilotCertProvider"]; ok && value != nil {
		c.checkPilotCertProvider(value, path.Child("global", "pilotCertProvider"))
	}
	pilot, _ := values["pilot"].(map[string]any)
	env, _ := pilot["env"].(map[string]any)
	if value, ok := env[pilotCertProviderEnv]; ok && value != nil {
		c.checkPilotCertProvider(value, path.Child("pilot", "env", pilotCertProviderEnv))
	}
}

// checkPilotCertProvider checks a value istiod reads as PILOT_CERT_PROVIDER.
// A missing value (valueFrom in an env entry) cannot be checked offline.
func (c *checker) checkPilotCertProvider(value any, path *field.Path) {
	if value == nil {
		return
	}
	s, ok := value.(string)
	if !ok {
		c.Errorf(finding.CodeInvalidPilotCertProvider, path, "the pilot certificate provider must be a string, not %s; set it to %s", jsonvalue.Describe(value), validPilotCertProvidersQuote)
		return
	}
	switch {
	case s == certProviderIstiod, s == certProviderCustom, s == certProviderNone:
		return
	case strings.HasPrefix(s, certProviderK8sSignerPrefix) && len(s) > len(certProviderK8sSignerPrefix):
		return
	case s == certProviderKubernetes:
		c.Errorf(finding.CodeInvalidPilotCertProvider, path, "pilot certificate provider %q is no longer supported: istiod exits at startup with it because Kubernetes "+
			"removed the signer it used; use %s", s, validPilotCertProvidersQuote)
	case s == certProviderK8sSignerPrefix:
		c.Errorf(finding.CodeInvalidPilotCertProvider, path, "pilot certificate provider %q names no signer; write k8s.io/ followed by the Kubernetes signer name, or use %s", s, validPilotCertProvidersQuote)
	default:
		c.Errorf(finding.CodeInvalidPilotCertProvider, path, "pilot certificate provider %q is not one istiod implements, so istiod would serve without a DNS certificate; use %s", s, validPilotCertProvidersQuote)
	}
}
