package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/e2e/framework"
)

// istioShapeCodes are meshcert's findings about what Istio's own Gateway
// validation decides: where Istio rejects a Gateway, meshcert must report
// one of these as an error on it, and where Istio accepts it, none.
var istioShapeCodes = []string{"MC2002", "MC2004", "MC2005", "MC2007", "MC2008", "MC2010", "MC2011", "MC2012", "MC2013", "MC2014", "MC2016", "MC2017", "MC2018"}

// corpus are the Gateways of the repository's own inputs: examples, the
// findings examples, the seed, the inject goldens and their inputs, and the
// oracle's own test inputs.
func corpus(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{
		"examples/*.yaml", "testdata/findings/*.yaml", "testdata/seed/*.yaml", "testdata/fidelity/*.yaml",
		"cmd/meshcert/app/testdata/inject/*.yaml", "cmd/meshcert/app/testdata/inject/*.json",
		"e2e/oracles/istio/testdata/*.yaml", "e2e/oracles/istio/testdata/analyze/*.yaml",
	} {
		matches, err := filepath.Glob(filepath.Join(repoRoot, pattern))
		require.NoError(t, err)
		files = append(files, matches...)
	}
	require.NotEmpty(t, files)
	return files
}

type istioVerdict struct {
	File      string   `json:"file"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Valid     bool     `json:"valid"`
	Errors    []string `json:"errors"`
	Warnings  []string `json:"warnings"`
}

// tlsOptionWarnings counts Istio's warnings about a server's cipher suites
// and TLS version (validateTLSOptions), which meshcert reports as MC2019.
func tlsOptionWarnings(warnings []string) int {
	n := 0
	for _, w := range warnings {
		if strings.Contains(w, "cipher suites:") || strings.Contains(w, "TLS version below TLSV1_2") {
			n++
		}
	}
	return n
}

type meshcertFinding struct {
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Object   struct {
		Kind, Namespace, Name string
	} `json:"object"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func runJSONLines(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	// meshcert check exits 1 when it has error findings; that is an answer.
	findingsExit := errors.As(err, &exit) && exit.ExitCode() == 1 && filepath.Base(name) == "meshcert"
	if err != nil && !findingsExit {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// compareWithIstio runs Istio's own ValidateGateway (the istio-oracle tool)
// on what `meshcert inject` prints for file (the Gateways as the API server
// stores them, after meshcert's mutating webhook) and `meshcert check` on
// file, and returns how many Gateways it compared and every disagreement:
// Istio rejects a Gateway and meshcert reports no Istio-shape error on it,
// or Istio accepts it and meshcert reports one.
// fidelityTools finds the oracles and the meshcert binary the differential
// tests run.
func fidelityTools(t testing.TB) (tools framework.Tools, meshcert string) {
	t.Helper()
	tools, err := framework.ToolsFromEnv()
	require.NoError(t, err)
	meshcert, err = framework.MeshcertBinary(t.Context())
	require.NoError(t, err)
	return tools, meshcert
}

// envNumber reads a number from the environment variable name, or returns
// def when it is not set; a longer run (make fidelity) sets them.
func envNumber[N int | uint64](t testing.TB, name string, def N) N {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		_, err := fmt.Sscan(v, &def)
		require.NoError(t, err, name)
	}
	return def
}

// comparison is what comparing one input with Istio and cert-manager gave.
type comparison struct {
	gateways, certificates int
	disagreements          []string
}

func (c *comparison) add(o comparison) {
	c.gateways += o.gateways
	c.certificates += o.certificates
	c.disagreements = append(c.disagreements, o.disagreements...)
}

// compareWithIstio judges file with Istio's validation and meshcert's
// check (see TestGatewayValidityAgreesWithIstio), and every Certificate
// meshcert plans for it with cert-manager's validation.
func compareWithIstio(t *testing.T, tools framework.Tools, meshcert, file, label string) comparison {
	t.Helper()
	stored := runJSONLines(t, nil, meshcert, "inject", "-f", file)
	result := checkWithCertManager(t, tools.CertManagerOracle, plannedCertificates(t, file, stored), label)
	var verdicts []istioVerdict
	for line := range bytes.SplitSeq(bytes.TrimSpace(runJSONLines(t, stored, tools.IstioOracle, "validate")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var v istioVerdict
		require.NoError(t, json.Unmarshal(line, &v), string(line))
		verdicts = append(verdicts, v)
	}
	if len(verdicts) == 0 {
		return result
	}
	var report struct {
		Findings []meshcertFinding `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(runJSONLines(t, nil, meshcert, "check", "-o", "json", "-f", file), &report))
	shapeErrors := map[string][]string{}
	cipherWarnings := map[string]int{}
	for _, f := range report.Findings {
		key := f.Object.Namespace + "/" + f.Object.Name
		if f.Object.Kind == "Gateway" && f.Severity == "error" && slices.Contains(istioShapeCodes, f.Code) {
			shapeErrors[key] = append(shapeErrors[key], f.Code+" "+f.Field)
		}
		if f.Object.Kind == "Gateway" && f.Code == "MC2019" {
			cipherWarnings[key]++
		}
	}
	var disagreements []string
	rejected := 0
	for _, v := range verdicts {
		if !v.Valid {
			rejected++
		}
		shape := shapeErrors[v.Namespace+"/"+v.Name]
		key := fmt.Sprintf("%s %s/%s", label, v.Namespace, v.Name)
		switch {
		case !v.Valid && len(shape) == 0:
			disagreements = append(disagreements, key+": Istio rejects it ("+strings.Join(v.Errors, "; ")+"), meshcert reports no such error")
		case v.Valid && len(shape) > 0:
			disagreements = append(disagreements, key+": Istio accepts it, meshcert reports "+strings.Join(shape, ", "))
		}
		if want, got := tlsOptionWarnings(v.Warnings), cipherWarnings[v.Namespace+"/"+v.Name]; want != got {
			disagreements = append(disagreements, fmt.Sprintf("%s: Istio gives %d warnings about cipher suites and TLS versions (%s), meshcert %d MC2019",
				key, want, strings.Join(v.Warnings, "; "), got))
		}
	}
	t.Logf("%s: Istio rejects %d of %d Gateways", label, rejected, len(verdicts))
	result.gateways = len(verdicts)
	result.disagreements = append(result.disagreements, disagreements...)
	return result
}

// plannedCertificates returns, as a YAML stream, the Certificates `meshcert
// inject` printed for file beyond the ones the file holds: inject echoes
// the input first, then adds what it plans.
func plannedCertificates(t *testing.T, file string, injected []byte) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	inInput := map[string]int{}
	for _, obj := range decodeObjects(t, data, file) {
		if obj.GetKind() == "Certificate" {
			inInput[objectKey(obj)]++
		}
	}
	var planned bytes.Buffer
	for _, obj := range decodeObjects(t, injected, "meshcert inject -f "+file) {
		if obj.GetKind() != "Certificate" {
			continue
		}
		if key := objectKey(obj); inInput[key] > 0 {
			inInput[key]--
			continue
		}
		doc, err := yaml.Marshal(obj.Object)
		require.NoError(t, err)
		planned.WriteString("---\n")
		planned.Write(doc)
	}
	return planned.Bytes()
}

func objectKey(obj *unstructured.Unstructured) string {
	ns := obj.GetNamespace()
	if ns == "" {
		ns = "default"
	}
	return ns + "/" + obj.GetName()
}

// decodeObjects reads a YAML or JSON stream of objects.
func decodeObjects(t *testing.T, data []byte, what string) []*unstructured.Unstructured {
	t.Helper()
	var objects []*unstructured.Unstructured
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var obj map[string]any
		err := decoder.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return objects
		}
		if err != nil {
			// Some inputs are broken on purpose; what they hold past the break
			// is judged by the other comparisons.
			t.Logf("%s: stops being readable YAML: %v", what, err)
			return objects
		}
		if obj != nil {
			objects = append(objects, &unstructured.Unstructured{Object: obj})
		}
	}
}

// checkWithCertManager runs cert-manager's own Certificate validation on
// the Certificates meshcert planned: it must accept every one.
func checkWithCertManager(t *testing.T, oracle string, certificates []byte, label string) comparison {
	t.Helper()
	var result comparison
	if len(certificates) == 0 {
		return result
	}
	for line := range bytes.SplitSeq(bytes.TrimSpace(runJSONLines(t, certificates, oracle)), []byte("\n")) {
		var v struct {
			Namespace, Name string
			Valid           bool
			Errors          []string
		}
		require.NoError(t, json.Unmarshal(line, &v), string(line))
		result.certificates++
		if !v.Valid {
			result.disagreements = append(result.disagreements, fmt.Sprintf("%s Certificate %s/%s: meshcert plans it, cert-manager rejects it: %s",
				label, v.Namespace, v.Name, strings.Join(v.Errors, "; ")))
		}
	}
	require.Equal(t, bytes.Count(certificates, []byte("\nkind: Certificate\n")), result.certificates, "%s: cert-manager judged every planned Certificate", label)
	return result
}

// TestGatewayValidityAgreesWithIstio compares meshcert with Istio's own
// validation over every Gateway of the repository's inputs: wherever Istio
// rejects a Gateway, meshcert must report an Istio-shape error on it;
// wherever Istio accepts one, meshcert must report none.
func TestGatewayValidityAgreesWithIstio(t *testing.T) {
	tools, meshcert := fidelityTools(t)

	var all comparison
	for _, file := range corpus(t) {
		rel, err := filepath.Rel(repoRoot, file)
		require.NoError(t, err)
		all.add(compareWithIstio(t, tools, meshcert, file, rel))
	}
	require.Positive(t, all.gateways, "no Gateway compared")
	require.Positive(t, all.certificates, "no planned Certificate judged by cert-manager")
	sort.Strings(all.disagreements)
	t.Logf("%d Gateways compared with Istio's validation; %d Certificates meshcert plans for them judged by cert-manager's", all.gateways, all.certificates)
	for _, d := range all.disagreements {
		t.Errorf("disagreement: %s", d)
	}
}
