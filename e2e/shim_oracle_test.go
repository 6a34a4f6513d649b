package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/e2e/framework"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/gatewayapi"
	"github.com/meshcert/meshcert/manifest"
	"github.com/meshcert/meshcert/offline"
)

// shimVerdict is one line of `certmanager-oracle shim`: what cert-manager's
// own gateway-shim did with one Gateway or ListenerSet.
type shimVerdict struct {
	Kind         string `json:"kind"`
	Namespace    string `json:"namespace"`
	Name         string `json:"name"`
	Synced       bool   `json:"synced"`
	Certificates []struct {
		Certificate *cmapi.Certificate `json:"certificate"`
		Verdict     struct {
			Valid  bool     `json:"valid"`
			Errors []string `json:"errors"`
		} `json:"verdict"`
	} `json:"certificates"`
	Events []string `json:"events"`
	Error  string   `json:"error"`
}

// generatedShimObjects is how many Gateways and ListenerSets
// TestShimCertificatesAgreeWithCertManager generates;
// MESHCERT_FIDELITY_SHIM raises it (make fidelity).
func generatedShimObjects(t *testing.T) int {
	return envNumber(t, "MESHCERT_FIDELITY_SHIM", 600)
}

// TestShimCertificatesAgreeWithCertManager runs cert-manager's own
// gateway-shim (the certmanager-oracle's shim mode, SyncFnFor of the pinned
// release) and gatewayapi.PlanShim on the same Gateways and ListenerSets:
// the Gateway API's own examples annotated for the shim, meshcert's finding
// examples, and generated objects with random listeners and shim
// annotations (a fixed seed). For every object:
//
//   - the Certificates meshcert predicts are exactly the ones the shim
//     creates (name, namespace, labels, annotations, owner, spec), and
//     cert-manager's validation accepts each;
//   - when meshcert predicts none for an object the shim acts on, it says
//     why: the shim refused the issuer (MC1001), failed its sync or wrote
//     Certificates cert-manager's webhook refuses (MC1002), or had no
//     listener to issue for;
//   - the listeners meshcert reports as skipped (MC2020) are the ones the
//     shim's BadConfig Event names.
func TestShimCertificatesAgreeWithCertManager(t *testing.T) {
	tools, _ := fidelityTools(t)
	var docs [][]byte
	docs = append(docs, gatewayAPIExamples(t)...)
	docs = append(docs, findingExamples(t)...)
	edges, err := os.ReadFile(filepath.Join("testdata", "gatewayapi", "shim-edges.yaml"))
	require.NoError(t, err)
	docs = append(docs, edges)
	docs = append(docs, generateShimObjects(rand.New(rand.NewPCG(7, 11)), generatedShimObjects(t))...)
	input := bytes.Join(docs, []byte("\n---\n"))
	file := filepath.Join(t.TempDir(), "shim-input.yaml")
	require.NoError(t, os.WriteFile(file, input, 0o600))

	objs, err := manifest.Decode(file, input)
	require.NoError(t, err)
	index := offline.NewIndex()
	var planned []*gatewayapi.Object
	for _, o := range objs {
		gvk := o.Object.GroupVersionKind()
		if gvk.Group != gatewayapi.Group || gvk.Version != "v1" || !gatewayapi.Is(gvk) {
			continue
		}
		if o.Object.GetNamespace() == "" {
			o.Object.SetNamespace("default")
		}
		parsed, err := gatewayapi.Parse(o.Object)
		require.NoError(t, err)
		planned = append(planned, parsed)
		require.NoError(t, index.Add(o.Object))
	}
	// As in a cluster (and in offline.PlanObjects), the first object to
	// name a Secret holds its Certificate.
	for _, obj := range planned {
		index.AddShimCertificates(t.Context(), obj, gatewayapi.DefaultShimOptions())
	}
	// The oracle reads the objects with their namespace, as stored.
	var stored []*unstructured.Unstructured
	for _, p := range planned {
		stored = append(stored, p.Source)
	}
	var buf bytes.Buffer
	require.NoError(t, manifest.Write(&buf, stored))
	storedFile := filepath.Join(t.TempDir(), "stored.yaml")
	require.NoError(t, os.WriteFile(storedFile, buf.Bytes(), 0o600))

	var verdicts []shimVerdict
	for line := range bytes.SplitSeq(bytes.TrimSpace(runJSONLines(t, nil, tools.CertManagerOracle, "shim", storedFile)), []byte("\n")) {
		var v shimVerdict
		require.NoError(t, json.Unmarshal(line, &v), "%s", line)
		verdicts = append(verdicts, v)
	}
	require.Len(t, verdicts, len(planned), "one verdict per Gateway and ListenerSet")

	var disagreements []string
	counts := map[string]int{}
	compared := 0
	for i, obj := range planned {
		v := verdicts[i]
		require.Equal(t, obj.Kind+" "+obj.Namespace+"/"+obj.Name, v.Kind+" "+v.Namespace+"/"+v.Name, "verdicts come in input order")
		plan := gatewayapi.Plan(t.Context(), obj, index, certs.DefaultOptions(), gatewayapi.DefaultShimOptions())
		outcome, problems := compareWithShim(plan, v)
		counts[outcome]++
		compared += len(plan.Certificates)
		for _, p := range problems {
			disagreements = append(disagreements, fmt.Sprintf("%s %s/%s: %s", obj.Kind, obj.Namespace, obj.Name, p))
		}
	}
	t.Logf("compared %d objects with cert-manager's gateway-shim (%d predicted Certificates, field by field): %v", len(planned), compared, counts)
	require.Empty(t, disagreements, "meshcert and cert-manager's gateway-shim disagree:\n%s", strings.Join(disagreements, "\n"))
	for _, outcome := range []string{"same Certificates", "issuer refused", "annotations refused", "certificates refused", "not acted on", "listeners skipped", "parent unknown", "claimed by another object"} {
		require.Positive(t, counts[outcome], "the corpus reaches the outcome %q", outcome)
	}
}

var (
	skippedListener     = regexp.MustCompile(`spec\.listeners\[(\d+)\]`)
	rejectedCertificate = regexp.MustCompile(`^the Certificate (\S+) cert-manager's gateway-shim creates`)
	claimedCertificate  = regexp.MustCompile(`^Certificate (\S+) already exists`)
)

// compareWithShim compares one plan with the shim's verdict and names the
// outcome, for the corpus' coverage.
func compareWithShim(plan *gatewayapi.ShimPlan, v shimVerdict) (string, []string) {
	var problems []string
	codes := map[finding.Code]bool{}
	mcSkipped := map[int]bool{}
	for _, f := range plan.Findings {
		codes[f.Code] = true
		if f.Code == finding.CodeListenerSkippedByShim {
			if m := skippedListener.FindStringSubmatch(f.Field); m != nil {
				n, _ := strconv.Atoi(m[1])
				mcSkipped[n] = true
			}
		}
	}
	shimSkipped := map[int]bool{}
	issuerRefused := false
	for _, e := range v.Events {
		if strings.HasPrefix(e, "Warning BadConfig Skipped a listener block: ") {
			for _, m := range skippedListener.FindAllStringSubmatch(e, -1) {
				n, _ := strconv.Atoi(m[1])
				shimSkipped[n] = true
			}
		}
		if strings.HasPrefix(e, "Warning BadConfig Could not determine issuer") {
			issuerRefused = true
		}
	}
	switch {
	case codes[finding.CodeListenerSetParentUnknown]:
		if len(v.Certificates) > 0 || len(v.Events) > 0 {
			problems = append(problems, fmt.Sprintf("meshcert says the parent Gateway is unknown, the shim created %d Certificates and recorded %q", len(v.Certificates), v.Events))
		}
		return "parent unknown", problems
	case !plan.Acts:
		if len(v.Certificates) > 0 || len(v.Events) > 0 {
			problems = append(problems, fmt.Sprintf("meshcert says the shim leaves it alone, the shim created %d Certificates and recorded %q", len(v.Certificates), v.Events))
		}
		return "not acted on", problems
	case codes[finding.CodeInvalidIssuerAnnotation]:
		if !issuerRefused || len(v.Certificates) > 0 {
			problems = append(problems, fmt.Sprintf("meshcert refuses the issuer annotations (MC1001), the shim did not (events %q)", v.Events))
		}
		return "issuer refused", problems
	case issuerRefused:
		problems = append(problems, fmt.Sprintf("the shim refused the issuer (%q), meshcert did not", v.Events))
		return "issuer refused", problems
	}
	if !sameKeys(mcSkipped, shimSkipped) {
		problems = append(problems, fmt.Sprintf("meshcert skips listeners %v, the shim %v (events %q)", keys(mcSkipped), keys(shimSkipped), v.Events))
	}
	refusesAnnotations := false
	refusedCertificates := map[string]bool{}
	for _, f := range plan.Findings {
		if f.Severity != finding.SeverityError {
			continue
		}
		if strings.HasPrefix(f.Field, "metadata.annotations[") && strings.Contains(f.Message, "gateway-shim refuses") {
			refusesAnnotations = true
		}
		if f.Code == finding.CodeCertificateRejected || f.Code == finding.CodeInvalidIssuerRef {
			if m := rejectedCertificate.FindStringSubmatch(f.Message); m != nil {
				refusedCertificates[m[1]] = true
			}
		}
	}
	// A Certificate meshcert still predicts is one it says is stored,
	// whatever else it says about it.
	for _, c := range plan.Certificates {
		delete(refusedCertificates, c.Namespace+"/"+c.Name)
	}
	if refusesAnnotations != (v.Error != "") {
		problems = append(problems, fmt.Sprintf("meshcert says the shim refuses the annotations: %v; the shim's sync error: %q", refusesAnnotations, v.Error))
	}
	if refusesAnnotations {
		return "annotations refused", problems
	}
	// The oracle syncs each object alone; a Certificate another object of
	// the input already claims is one the shim would skip in a cluster
	// (MC4002), which the single-object run cannot show.
	claimed := map[string]bool{}
	for _, f := range plan.Findings {
		if m := claimedCertificate.FindStringSubmatch(f.Message); f.Code == finding.CodeCertificateNotOwned && m != nil {
			claimed[m[1]] = true
		}
	}
	want := map[string]string{}
	for _, c := range v.Certificates {
		name := c.Certificate.Namespace + "/" + c.Certificate.Name
		if claimed[name] {
			continue
		}
		if refusedCertificates[name] != !c.Verdict.Valid {
			problems = append(problems, fmt.Sprintf("cert-manager's validation says %s is valid: %v (%q); meshcert says its webhook refuses it: %v", name, c.Verdict.Valid, c.Verdict.Errors, refusedCertificates[name]))
		}
		if c.Verdict.Valid {
			want[name] = certificateJSON(c.Certificate)
		}
	}
	got := map[string]string{}
	for _, c := range plan.Certificates {
		got[c.Namespace+"/"+c.Name] = certificateJSON(c)
	}
	for name, w := range want {
		if g, ok := got[name]; !ok {
			problems = append(problems, "the shim created "+name+", meshcert did not predict it")
		} else if g != w {
			problems = append(problems, fmt.Sprintf("Certificate %s differs:\n  shim:    %s\n  meshcert: %s", name, w, g))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			problems = append(problems, "meshcert predicted "+name+", the shim did not create it")
		}
	}
	if len(refusedCertificates) > 0 {
		return "certificates refused", problems
	}
	if len(claimed) > 0 {
		return "claimed by another object", problems
	}
	switch {
	case len(shimSkipped) > 0:
		return "listeners skipped", problems
	case len(want) > 0:
		return "same Certificates", problems
	}
	return "no listener to issue for", problems
}

// certificateJSON is the part of a Certificate both sides decide.
func certificateJSON(c *cmapi.Certificate) string {
	orNil := func(m map[string]string) map[string]string {
		if len(m) == 0 {
			return nil
		}
		return m
	}
	// An empty map and none are the same once stored.
	out, err := json.Marshal(map[string]any{
		"name": c.Name, "namespace": c.Namespace, "labels": orNil(c.Labels), "annotations": orNil(c.Annotations),
		"ownerReferences": c.OwnerReferences, "spec": c.Spec,
	})
	if err != nil {
		return err.Error()
	}
	return string(out)
}

func sameKeys(a, b map[int]bool) bool {
	return slices.Equal(keys(a), keys(b))
}

func keys(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// gatewayAPIExamples are the Gateway API's own example manifests at the
// version meshcert builds with, every Gateway and ListenerSet annotated
// with a cert-manager issuer, so the shim acts on each.
func gatewayAPIExamples(t *testing.T) [][]byte {
	t.Helper()
	dir, err := framework.ModuleDir(t.Context(), "sigs.k8s.io/gateway-api", gatewayAPIVersion(t))
	require.NoError(t, err)
	var out [][]byte
	err = filepath.WalkDir(filepath.Join(dir, "examples", "standard"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		objs, err := manifest.Decode(path, data)
		if err != nil {
			return nil //nolint:nilerr // Not every example is a manifest meshcert reads; the ones it reads count.
		}
		for _, o := range objs {
			gvk := o.Object.GroupVersionKind()
			if !gatewayapi.Is(gvk) || gvk.Version != "v1" {
				continue
			}
			ann := o.Object.GetAnnotations()
			if ann == nil {
				ann = map[string]string{}
			}
			if o.Object.GetKind() == gatewayapi.KindGateway {
				ann["cert-manager.io/cluster-issuer"] = "example"
			}
			o.Object.SetAnnotations(ann)
			doc, err := yaml.Marshal(o.Object.Object)
			if err != nil {
				return err
			}
			out = append(out, doc)
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, out, "the Gateway API examples hold Gateways")
	return out
}

// gatewayAPIVersion is the gateway-api version in meshcert's build.
func gatewayAPIVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`sigs\.k8s\.io/gateway-api (v\S+)`).FindSubmatch(data)
	require.NotNil(t, m, "go.mod requires sigs.k8s.io/gateway-api")
	return string(m[1])
}

// findingExamples are meshcert's finding examples that hold Gateway API
// objects.
func findingExamples(t *testing.T) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "findings", "*.yaml"))
	require.NoError(t, err)
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		if bytes.Contains(data, []byte(gatewayapi.Group)) {
			out = append(out, data)
		}
	}
	return out
}

// shimAnnotations are the annotations the shim reads, with values users
// write, good and bad; certificateAnnotations adds the spec ones.
var shimAnnotations = map[string][]string{
	"cert-manager.io/issuer":                               {"ca", "", "le"},
	"cert-manager.io/cluster-issuer":                       {"ca", "", "le"},
	"cert-manager.io/issuer-kind":                          {"Issuer", "ClusterIssuer", "AWSPCAIssuer", ""},
	"cert-manager.io/issuer-group":                         {"cert-manager.io", "awspca.cert-manager.io", ""},
	"cert-manager.io/ignore-tls-listeners":                 {"a", "a, b", " c ", "", "x,y"},
	"acme.cert-manager.io/http01-edit-in-place":            {"true", "True", "false"},
	"acme.cert-manager.io/http01-ingress-class":            {"istio", ""},
	"acme.cert-manager.io/http01-parentreffallback":        {"true", "1", "TRUE", "no", ""},
	"acme.cert-manager.io/http01-ingress-ingressclassname": {"istio", ""},
	"cert-manager.io/subject-organizationalunits":          {"Web", `"a"b`, ""},
	"cert-manager.io/subject-provinces":                    {"Berlin", `"x`, ""},
	"cert-manager.io/subject-localities":                   {"Berlin", `a"b"`, ""},
	"cert-manager.io/subject-postalcodes":                  {"10115", `"`, ""},
	"cert-manager.io/subject-streetaddresses":              {`"Main St, 1"`, `x"y`, ""},
	"cert-manager.io/duration":                             {"90d", "2160h"},
	"cert-manager.io/renew-before":                         {"1w", "720h"},
	"cert-manager.io/private-key-size":                     {"256", "384", "4096", "1024"},
	"cert-manager.io/private-key-algorithm":                {"ECDSA", "Ed25519", "RSA"},
}

var shimHostnames = []string{"web.example.com", "*.example.com", "api.example.com", "10.0.0.1", "2001:db8::1", "a-b.example.com", ""}

// generateShimObjects writes n Gateways and ListenerSets (each ListenerSet
// after a Gateway it may name as its parent) with random listeners and
// annotations.
func generateShimObjects(r *rand.Rand, n int) [][]byte {
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	var out [][]byte
	var gatewayNames []string
	for i := range n {
		kind := gatewayapi.KindGateway
		if i > 0 && r.IntN(3) == 0 {
			kind = gatewayapi.KindListenerSet
		}
		ann := map[string]string{}
		// Half the objects carry few annotations beyond the issuer, so
		// most of them reach a Certificate to compare.
		spiced := r.IntN(2) == 0
		// Sorted keys: map order would make the fixed seed a random corpus.
		for _, key := range slices.Sorted(maps.Keys(shimAnnotations)) {
			if spiced && r.IntN(4) == 0 || r.IntN(20) == 0 {
				ann[key] = pick(shimAnnotations[key])
			}
		}
		if r.IntN(4) > 0 {
			delete(ann, "cert-manager.io/cluster-issuer")
			ann["cert-manager.io/issuer"] = "ca"
		}
		for _, key := range slices.Sorted(maps.Keys(certificateAnnotations)) {
			if spiced && r.IntN(6) == 0 {
				ann[key] = pick(certificateAnnotations[key])
			}
		}
		labels := map[string]string{"app": "web"}
		if r.IntN(3) == 0 {
			labels["applyset.kubernetes.io/part-of"] = "set"
		}
		var listeners []any
		for j := range 1 + r.IntN(4) {
			l := map[string]any{"name": string(rune('a' + j)), "port": 443, "protocol": pick([]string{"HTTPS", "HTTPS", "TLS", "HTTP", "https", "TCP"})}
			if h := pick(shimHostnames); h != "" || r.IntN(2) == 0 {
				if h != "" {
					l["hostname"] = h
				}
			}
			if r.IntN(6) > 0 {
				tls := map[string]any{}
				if m := pick([]string{"", "", "Terminate", "Passthrough"}); m != "" {
					tls["mode"] = m
				}
				var refs []any
				for range r.IntN(3) {
					// Mostly a Secret of this object's own; sometimes one
					// another object names too (the shim keeps one).
					secret := pick([]string{"web-tls", "api-tls"}) + fmt.Sprintf("-%d", i)
					if r.IntN(8) == 0 {
						secret = "shared-tls"
					}
					ref := map[string]any{"name": secret}
					switch r.IntN(8) {
					case 0:
						ref["namespace"] = "other"
					case 1:
						ref["namespace"] = "ns"
					case 2:
						ref["kind"] = "ConfigMap"
					case 3:
						ref["group"] = "core"
					case 4:
						ref["group"] = "example.com"
					}
					refs = append(refs, ref)
				}
				if refs != nil || r.IntN(2) == 0 {
					tls["certificateRefs"] = refs
				}
				l["tls"] = tls
			}
			listeners = append(listeners, l)
		}
		name := fmt.Sprintf("obj-%d", i)
		meta := map[string]any{"name": name, "namespace": "ns", "labels": labels, "annotations": ann}
		if r.IntN(40) == 0 {
			// Deleted in the foreground: the shim leaves it alone.
			meta["finalizers"] = []any{"foregroundDeletion"}
		}
		spec := map[string]any{"listeners": listeners}
		if kind == gatewayapi.KindGateway {
			spec["gatewayClassName"] = "istio"
			gatewayNames = append(gatewayNames, name)
		} else {
			parent := map[string]any{"name": pick(gatewayNames)}
			if r.IntN(4) == 0 {
				parent["name"] = "missing"
			}
			if r.IntN(3) == 0 {
				parent["namespace"] = "ns"
			}
			spec["parentRef"] = parent
		}
		obj := map[string]any{
			"apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
			"metadata": meta,
			"spec":     spec,
		}
		doc, err := yaml.Marshal(obj)
		if err != nil {
			panic(err)
		}
		out = append(out, doc)
	}
	return out
}
