package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/e2e/framework"
	"github.com/meshcert/meshcert/offline"
)

// streamingOracle is one `istio-oracle validate -stream` process, asked
// one Gateway at a time, so a fuzz worker pays for Istio's start once.
type streamingOracle struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	answer *bufio.Scanner
}

func startStreamingOracle(binary string) (*streamingOracle, error) {
	cmd := exec.Command(binary, "validate", "-stream")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("failed to open the oracle's stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("failed to open the oracle's stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start the oracle: %w", err)
	}
	answer := bufio.NewScanner(stdout)
	answer.Buffer(make([]byte, 0, 64*1024), 64<<20)
	return &streamingOracle{cmd: cmd, stdin: stdin, answer: answer}, nil
}

// stop closes the oracle's stdin, which ends its loop, and waits for it.
func (o *streamingOracle) stop() {
	_ = o.stdin.Close()
	_ = o.cmd.Wait()
}

func (o *streamingOracle) judge(t *testing.T, gateway map[string]any) istioVerdict {
	t.Helper()
	line, err := json.Marshal(gateway)
	require.NoError(t, err)
	o.mu.Lock()
	defer o.mu.Unlock()
	_, err = o.stdin.Write(append(line, '\n'))
	require.NoError(t, err, "the Istio oracle stopped reading")
	require.True(t, o.answer.Scan(), "the Istio oracle stopped answering: %v", o.answer.Err())
	var v istioVerdict
	require.NoError(t, json.Unmarshal(o.answer.Bytes(), &v), o.answer.Text())
	return v
}

// FuzzGatewayAgreesWithIstio mutates Istio's own sample Gateways as
// TestGeneratedGatewaysAgreeWithIstio does, with the fuzzer choosing the
// sample, the mutations and their random values, and asserts what the
// differential tests assert: Istio rejects the Gateway meshcert stores
// exactly when meshcert reports an Istio-shape error on it. meshcert plans
// in process (offline.PlanObjects, what `meshcert check` and `inject` run);
// Istio judges in one long-running oracle per fuzz worker. `make fuzz`
// runs it for FUZZTIME; its seeds and any failing inputs under
// testdata/fuzz run in every `make test`.
func FuzzGatewayAgreesWithIstio(f *testing.F) {
	tools, err := framework.ToolsFromEnv()
	require.NoError(f, err)
	samples := sampleGateways(f)
	var (
		once      sync.Once
		oracle    *streamingOracle
		oracleErr error
	)
	f.Cleanup(func() {
		if oracle != nil {
			oracle.stop()
		}
	})
	issuer := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
		"metadata": map[string]any{"name": "ca"}, "spec": map[string]any{"selfSigned": map[string]any{}},
	}}

	for i := range len(gatewayMutations) {
		f.Add(uint64(i), uint8(i), []byte{byte(i)})
	}
	f.Add(uint64(7), uint8(0), []byte{3, 7, 8})
	f.Fuzz(func(t *testing.T, seed uint64, sample uint8, mutations []byte) {
		// The oracle starts on the first input, not in the parent
		// process that only coordinates the workers.
		once.Do(func() { oracle, oracleErr = startStreamingOracle(tools.IstioOracle) })
		require.NoError(t, oracleErr)
		if len(mutations) > 8 {
			mutations = mutations[:8]
		}
		r := rand.New(rand.NewPCG(seed, uint64(len(mutations))))
		gw := deepCopy(t, samples[int(sample)%len(samples)])
		gw["metadata"] = map[string]any{"name": "fuzzed", "namespace": "fuzz"}
		spec, _ := gw["spec"].(map[string]any)
		if spec == nil {
			spec = map[string]any{}
			gw["spec"] = spec
		}
		for _, m := range mutations {
			servers, _ := spec["servers"].([]any)
			gatewayMutations[int(m)%len(gatewayMutations)](r, gw, servers)
		}

		res, err := offline.PlanObjects(t.Context(), []*unstructured.Unstructured{{Object: gw}, issuer}, certs.DefaultOptions(), "default")
		require.NoError(t, err)
		var shape []string
		for _, fd := range res.Findings {
			if fd.Index == 0 && fd.Severity == "error" && slices.Contains(istioShapeCodes, string(fd.Code)) {
				shape = append(shape, fmt.Sprintf("%s %s: %s", fd.Code, fd.Field, fd.Message))
			}
		}
		v := oracle.judge(t, res.Objects[0].Object)
		switch {
		case !v.Valid && len(shape) == 0:
			t.Fatalf("Istio rejects the stored Gateway (%s); meshcert reports no Istio-shape error\n%s",
				strings.Join(v.Errors, "; "), asJSON(res.Objects[0].Object))
		case v.Valid && len(shape) > 0:
			t.Fatalf("Istio accepts the stored Gateway; meshcert reports %s\n%s",
				strings.Join(shape, "; "), asJSON(res.Objects[0].Object))
		}
	})
}

func asJSON(obj map[string]any) string {
	data, err := json.MarshalIndent(obj, "", "  ")
	if err != nil {
		return fmt.Sprintf("(not printable as JSON: %v)", err)
	}
	return string(data)
}
