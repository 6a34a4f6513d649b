package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/e2e/framework"
)

// istioShapeCodes are meshcert's findings about what Istio's own Gateway
// validation decides: where Istio rejects a Gateway, meshcert must report
// one of these as an error on it, and where Istio accepts it, none.
var istioShapeCodes = []string{"MC2002", "MC2004", "MC2005", "MC2007", "MC2008", "MC2010", "MC2011", "MC2012", "MC2013", "MC2014", "MC2016", "MC2017"}

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
func compareWithIstio(t *testing.T, oracle, meshcert, file, label string) (int, []string) {
	t.Helper()
	stored := runJSONLines(t, nil, meshcert, "inject", "-f", file)
	var verdicts []istioVerdict
	for line := range bytes.SplitSeq(bytes.TrimSpace(runJSONLines(t, stored, oracle, "validate")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var v istioVerdict
		require.NoError(t, json.Unmarshal(line, &v), string(line))
		verdicts = append(verdicts, v)
	}
	if len(verdicts) == 0 {
		return 0, nil
	}
	var report struct {
		Findings []meshcertFinding `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(runJSONLines(t, nil, meshcert, "check", "-o", "json", "-f", file), &report))
	shapeErrors := map[string][]string{}
	for _, f := range report.Findings {
		if f.Object.Kind == "Gateway" && f.Severity == "error" && slices.Contains(istioShapeCodes, f.Code) {
			key := f.Object.Namespace + "/" + f.Object.Name
			shapeErrors[key] = append(shapeErrors[key], f.Code+" "+f.Field)
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
	}
	t.Logf("%s: Istio rejects %d of %d Gateways", label, rejected, len(verdicts))
	return len(verdicts), disagreements
}

// TestGatewayValidityAgreesWithIstio compares meshcert with Istio's own
// validation over every Gateway of the repository's inputs: wherever Istio
// rejects a Gateway, meshcert must report an Istio-shape error on it;
// wherever Istio accepts one, meshcert must report none.
func TestGatewayValidityAgreesWithIstio(t *testing.T) {
	tools, err := framework.ToolsFromEnv()
	require.NoError(t, err)
	meshcert, err := framework.MeshcertBinary(t.Context())
	require.NoError(t, err)

	var disagreements []string
	checked := 0
	for _, file := range corpus(t) {
		rel, err := filepath.Rel(repoRoot, file)
		require.NoError(t, err)
		n, d := compareWithIstio(t, tools.IstioOracle, meshcert, file, rel)
		checked += n
		disagreements = append(disagreements, d...)
	}
	require.Positive(t, checked, "no Gateway compared")
	sort.Strings(disagreements)
	t.Logf("%d Gateways compared with Istio's validation", checked)
	for _, d := range disagreements {
		t.Errorf("disagreement: %s", d)
	}
}
