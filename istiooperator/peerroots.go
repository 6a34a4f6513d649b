package istiooperator

import (
	"cmp"
	"context"
	"encoding/pem"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// What Istio needs to trust more than its own root (istio/istio
// pilot/pkg/features and pilot-agent options): istiod builds a trust bundle
// from meshConfig.caCertificates only with ISTIO_MULTIROOT_MESH, and proxies
// receive it only with PROXY_CONFIG_XDS_AGENT.
const (
	multiRootEnv      = "ISTIO_MULTIROOT_MESH"
	proxyConfigXDSEnv = "PROXY_CONFIG_XDS_AGENT"
)

var (
	// multiRootSwitches are the settings that must be "true" for peer roots
	// to take effect, where meshcert sets them.
	multiRootSwitches = []struct {
		// fields are below spec, or below meshConfig when underMeshConfig.
		fields          []string
		underMeshConfig bool
		what            string
	}{
		{[]string{"values", "pilot", "env", multiRootEnv}, false, "istiod builds its trust bundle from meshConfig.caCertificates"},
		{[]string{"defaultConfig", "proxyMetadata", proxyConfigXDSEnv}, true, "proxies receive that trust bundle"},
	}
)

// parsePeerRoots reads AnnotationPeerRoots: comma-separated
// [namespace/]name[:key] entries.
func (pl *planner) parsePeerRoots(value, istiodNamespace string) ([]certs.TrustBundleRef, bool) {
	path := annotationsPath.Key(AnnotationPeerRoots)
	var refs []certs.TrustBundleRef
	ok := true
	for entry := range strings.SplitSeq(value, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		ref := certs.TrustBundleRef{Namespace: istiodNamespace, Key: DefaultTrustBundleKey}
		rest := entry
		if before, after, found := strings.Cut(rest, ":"); found {
			rest, ref.Key = before, after
		}
		if before, after, found := strings.Cut(rest, "/"); found {
			ref.Namespace, rest = before, after
		}
		ref.Name = rest
		var problems []string
		if errs := validation.IsDNS1123Label(ref.Namespace); len(errs) > 0 {
			problems = append(problems, fmt.Sprintf("namespace %q: %s", ref.Namespace, strings.Join(errs, ", ")))
		}
		if errs := validation.IsDNS1123Subdomain(ref.Name); len(errs) > 0 {
			problems = append(problems, fmt.Sprintf("name %q: %s", ref.Name, strings.Join(errs, ", ")))
		}
		if errs := validation.IsConfigMapKey(ref.Key); len(errs) > 0 {
			problems = append(problems, fmt.Sprintf("key %q: %s", ref.Key, strings.Join(errs, ", ")))
		}
		if len(problems) > 0 {
			ok = false
			pl.Errorf(finding.CodeInvalidMeshcertAnnotation, path,
				"entry %q is not [namespace/]name[:key] of a ConfigMap (%s); list ConfigMaps holding other clusters' roots, e.g. %q",
				entry, strings.Join(problems, "; "), "istio-system/cluster-b-root:ca.crt")
			continue
		}
		if !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	if len(refs) == 0 && ok {
		ok = false
		pl.Errorf(finding.CodeInvalidMeshcertAnnotation, path,
			"names no ConfigMap; list ConfigMaps holding other clusters' roots as [namespace/]name[:key], or remove the annotation")
	}
	return refs, ok
}

// peerRoots reads every named trust bundle. It returns the anchors,
// de-duplicated and sorted by fingerprint (so the order does not depend on
// the order of the ConfigMaps or of the certificates in them), and whether
// every source was found and valid.
func (pl *planner) peerRoots(ctx context.Context, refs []certs.TrustBundleRef) ([]certs.TrustAnchor, bool) {
	path := annotationsPath.Key(AnnotationPeerRoots)
	now := pl.opts.Time()
	var anchors []certs.TrustAnchor
	ok := true
	for _, ref := range refs {
		found, exists, problems := certs.ReadTrustBundle(ctx, pl.lookup, ref, now)
		switch {
		case !exists:
			ok = false
			pl.Addf(pl.opts.Lenient(), finding.CodeTrustBundleNotFound, path,
				"ConfigMap %s/%s not found (meshcert reads only ConfigMaps labelled %s); create it with the other cluster's root under %q, for example as the target of a trust-manager Bundle, and label it",
				ref.Namespace, ref.Name, certs.LabelTrustBundle, ref.Key)
		case len(problems) > 0:
			ok = false
			pl.Errorf(finding.CodeInvalidTrustBundle, path,
				"%s cannot be a source of peer roots: %s; it must hold only the other clusters' CA certificates, PEM-encoded",
				ref, strings.Join(problems, "; "))
		default:
			anchors = append(anchors, found...)
		}
	}
	slices.SortFunc(anchors, func(a, b certs.TrustAnchor) int { return cmp.Compare(a.Fingerprint, b.Fingerprint) })
	anchors = slices.CompactFunc(anchors, func(a, b certs.TrustAnchor) bool { return a.Fingerprint == b.Fingerprint })
	return anchors, ok
}

// injectPeerRoots returns the IstioOperator with the peer roots in
// spec.meshConfig.caCertificates, the entries meshcert added before replaced
// and everyone else's kept, plus the switches multi-root trust needs; nil
// when that changes nothing. With any problem in a source it changes
// nothing: half a set of roots is worse than the roots already there.
func (pl *planner) injectPeerRoots(ctx context.Context, istiodNamespace string) *unstructured.Unstructured {
	ann := pl.obj.GetAnnotations()
	value, named := ann[AnnotationPeerRoots]
	previous := fingerprintSet(ann[AnnotationInjectedRoots])
	if !named && len(previous) == 0 {
		return nil
	}
	var anchors []certs.TrustAnchor
	if named {
		refs, ok := pl.parsePeerRoots(value, istiodNamespace)
		if !ok {
			return nil
		}
		if anchors, ok = pl.peerRoots(ctx, refs); !ok {
			return nil
		}
	}

	mutated := pl.obj.DeepCopy()
	spec, ok := mutated.Object["spec"].(map[string]any)
	if !ok {
		if mutated.Object["spec"] != nil {
			return nil // Check reported the shape
		}
		spec = map[string]any{}
	}
	meshParent, ok := meshConfigParent(spec, pl.kind)
	if !ok {
		return nil
	}
	if meshParent == nil {
		meshParent = map[string]any{}
	}
	entries, ok := pl.currentEntries(meshParent)
	if !ok {
		return nil
	}
	if mc, _ := meshParent["meshConfig"].(map[string]any); pl.kind.components && (mc == nil || mc["caCertificates"] == nil) {
		// istioctl merges spec.meshConfig over spec.values.meshConfig, and
		// a list there replaces the one in values: start from the entries
		// written in values, so writing spec.meshConfig keeps them.
		values, _ := spec["values"].(map[string]any)
		if entries, ok = pl.currentEntries(values); !ok {
			return nil
		}
	}
	var kept []any
	present := map[string]bool{}
	for _, e := range entries {
		if meshcertEntry(e, previous) {
			continue
		}
		kept = append(kept, e)
		for _, fp := range entryFingerprints(e) {
			present[fp] = true
		}
	}
	var injected []string
	for _, a := range anchors {
		if present[a.Fingerprint] {
			continue // someone already trusts it; do not repeat it
		}
		kept = append(kept, map[string]any{"pem": a.PEM})
		injected = append(injected, a.Fingerprint)
	}

	if len(kept) > 0 {
		if err := unstructured.SetNestedSlice(spec, kept, pl.kind.meshConfigFields("caCertificates")...); err != nil {
			return nil
		}
	} else {
		unstructured.RemoveNestedField(spec, pl.kind.meshConfigFields("caCertificates")...)
		if mc, ok := meshParent["meshConfig"].(map[string]any); ok && len(mc) == 0 {
			delete(meshParent, "meshConfig")
		}
	}
	if len(anchors) > 0 && !pl.setMultiRootSwitches(spec) {
		return nil
	}
	mutated.Object["spec"] = spec

	newAnn := mutated.GetAnnotations()
	if len(injected) > 0 {
		newAnn[AnnotationInjectedRoots] = strings.Join(injected, ",")
	} else {
		delete(newAnn, AnnotationInjectedRoots)
	}
	mutated.SetAnnotations(newAnn)
	if !changed(pl.obj, mutated) {
		return nil
	}
	return mutated
}

// currentEntries returns meshConfig.caCertificates from the map holding
// meshConfig; false when it is not a list (Check reports that).
func (pl *planner) currentEntries(meshParent map[string]any) ([]any, bool) {
	mc, exists := meshParent["meshConfig"]
	if !exists || mc == nil {
		return nil, true
	}
	m, ok := mc.(map[string]any)
	if !ok {
		return nil, false
	}
	raw, exists := m["caCertificates"]
	if !exists || raw == nil {
		return nil, true
	}
	list, ok := raw.([]any)
	return list, ok
}

// meshcertEntry reports whether a caCertificates entry is one meshcert
// added: exactly {pem: <one certificate>} with a recorded fingerprint.
func meshcertEntry(e any, previous map[string]bool) bool {
	m, ok := e.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	prints := entryFingerprints(e)
	return len(prints) == 1 && previous[prints[0]]
}

// entryFingerprints returns the fingerprints of the certificates in an
// entry's pem. An entry that also sets spiffeBundleUrl has none: the two are
// a oneof, and Istio's decoder keeps spiffeBundleUrl and drops the pem.
func entryFingerprints(e any) []string {
	m, _ := e.(map[string]any)
	if m["spiffeBundleUrl"] != nil || m["spiffe_bundle_url"] != nil {
		return nil
	}
	data, _ := m["pem"].(string)
	var out []string
	rest := []byte(data)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return out
		}
		if block.Type == "CERTIFICATE" {
			out = append(out, certs.Fingerprint(block.Bytes))
		}
	}
}

func fingerprintSet(value string) map[string]bool {
	set := map[string]bool{}
	for fp := range strings.SplitSeq(value, ",") {
		if fp = strings.TrimSpace(fp); fp != "" {
			set[fp] = true
		}
	}
	return set
}

// setMultiRootSwitches sets what multi-root trust needs where it is unset,
// and reports a value someone set otherwise instead of overwriting it.
// ISTIO_MULTIROOT_MESH is read where istioctl's renderer takes it from: an
// entry in spec.components.pilot.k8s.env is patched over the one
// values.pilot.env renders, so it wins.
func (pl *planner) setMultiRootSwitches(spec map[string]any) bool {
	ok := true
	// The chart renders pilot.envVarFrom after pilot.env
	// (templates/deployment.yaml), so an entry there is what istiod gets.
	envVarFrom, _, _ := unstructured.NestedSlice(spec, "values", "pilot", "envVarFrom")
	for j, e := range envVarFrom {
		if entry, _ := e.(map[string]any); entry["name"] == multiRootEnv {
			ok = false
			pl.Errorf(finding.CodeMultiRootDisabled, specPath.Child("values", "pilot", "envVarFrom").Index(j),
				"sets %s from elsewhere, and the chart renders it after pilot.env, so istiod runs with that value, which meshcert cannot read; the peer roots take effect only when it is \"true\" (%s): remove this entry so meshcert sets it",
				multiRootEnv, multiRootSwitches[0].what)
		}
	}
	if value, envPath, found := componentEnv(spec, multiRootEnv); found {
		if !isTrue(value) {
			ok = false
			pl.Errorf(finding.CodeMultiRootDisabled, envPath.Child("value"),
				"is %v, and istioctl renders this entry over values.pilot.env, so istiod runs with it; the peer roots take effect only when it is \"true\" (%s): meshcert does not overwrite it, set it to \"true\" or remove it",
				describeEnv(value), multiRootSwitches[0].what)
		}
	}
	for i, sw := range multiRootSwitches {
		fields := sw.fields
		if sw.underMeshConfig {
			fields = pl.kind.meshConfigFields(fields...)
		}
		path := specPath
		for _, f := range fields {
			path = path.Child(f)
		}
		current, found, err := unstructured.NestedFieldNoCopy(spec, fields...)
		switch {
		case err != nil:
			ok = false
			pl.Errorf(finding.CodeMultiRootDisabled, path,
				"meshcert cannot set %s here (%v); peer roots take effect only when it is \"true\" (%s): make the fields above it maps",
				path, err, sw.what)
		case !found || current == nil:
			if err := unstructured.SetNestedField(spec, "true", fields...); err != nil {
				ok = false
				pl.Errorf(finding.CodeMultiRootDisabled, path,
					"meshcert cannot set %s here (%v); peer roots take effect only when it is \"true\" (%s): make the fields above it maps",
					path, err, sw.what)
			}
		case !isTrue(current):
			if i == 0 {
				if _, _, overridden := componentEnv(spec, multiRootEnv); overridden {
					continue // the k8s.env entry is what istiod reads
				}
			}
			ok = false
			pl.Errorf(finding.CodeMultiRootDisabled, path,
				"is %v, but the peer roots take effect only when it is \"true\" (%s); meshcert does not overwrite it: set it to \"true\" or remove it",
				current, sw.what)
		}
	}
	return ok
}

// componentEnv returns the value of istiod's env entry name in
// spec.components.pilot.k8s.env (the last such entry) and its path. A
// valueFrom entry has a nil value.
func componentEnv(spec map[string]any, name string) (any, *field.Path, bool) {
	const component = "pilot"
	components, _ := spec["components"].(map[string]any)
	comp, _ := components[component].(map[string]any)
	k8s, _ := comp["k8s"].(map[string]any)
	env, _ := k8s["env"].([]any)
	var (
		value any
		path  *field.Path
		found bool
	)
	for j, e := range env {
		entry, _ := e.(map[string]any)
		if n, _ := entry["name"].(string); n == name {
			value, found = entry["value"], true
			if entry["valueFrom"] != nil {
				value = valueFromMarker{}
			}
			path = specPath.Child("components", component, "k8s", "env").Index(j)
		}
	}
	return value, path, found
}

// valueFromMarker stands for an env entry whose value comes from
// elsewhere (valueFrom), which meshcert cannot read offline.
type valueFromMarker struct{}

func describeEnv(v any) string {
	switch v.(type) {
	case valueFromMarker:
		return "taken from valueFrom (which meshcert cannot read)"
	case nil:
		return "empty"
	case string:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(v)
}

// isTrue reports whether istiod reads v as true: the value is rendered
// into the Deployment as text ("{{ $val }}" in Istio's chart) and read
// with Go's strconv.ParseBool (pkg/env BoolVar), so "True", "1", "t" and
// "TRUE" are true and "yes" or "on" are not.
func isTrue(v any) bool {
	var s string
	switch t := v.(type) {
	case bool:
		return t
	case string:
		s = t
	case int64, int, int32, float64, uint64:
		s = fmt.Sprint(t)
	default:
		return false
	}
	b, err := strconv.ParseBool(s)
	return err == nil && b
}
