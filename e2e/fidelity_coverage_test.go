package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// probeServer is a server Istio's validation accepts on any Gateway: a
// Gateway with only this server is rejected for what lies outside its
// servers alone (its name, its annotations).
var probeServer = map[string]any{
	"port":  map[string]any{"number": int64(80), "name": "meshcert-probe", "protocol": "HTTP"},
	"hosts": []any{"probe.example.com"},
}

// serverField matches a finding's field on one server: spec.servers[N],
// alone or followed by a field of that server.
var serverField = regexp.MustCompile(`^spec\.servers\[(\d+)\](\.|\[|$)`)

// TestIstioRejectionsAreMeshcertErrorsOnTheSameServer sharpens
// TestGatewayValidityAgreesWithIstio from Gateways to servers. Istio judges
// each server of each Gateway of the corpus on its own: the stored Gateway
// (what `meshcert inject` prints) with that server only. What Istio
// rejects in it, beyond what it rejects with a server it accepts everywhere
// (probeServer: the Gateway's name and annotations), is that server's. For
// each server Istio rejects, meshcert must report an Istio-shape error on
// that server's field (spec.servers[N]...); for each server Istio accepts,
// none, except a duplicate port name (MC2012), which is about two servers.
func TestIstioRejectionsAreMeshcertErrorsOnTheSameServer(t *testing.T) {
	tools, meshcert := fidelityTools(t)
	oracle, err := startStreamingOracle(tools.IstioOracle)
	require.NoError(t, err)
	defer oracle.stop()

	var disagreements []string
	servers, rejected := 0, 0
	for _, file := range corpus(t) {
		rel, err := filepath.Rel(repoRoot, file)
		require.NoError(t, err)
		var report struct {
			Findings []meshcertFinding `json:"findings"`
		}
		require.NoError(t, json.Unmarshal(runJSONLines(t, nil, meshcert, "check", "-o", "json", "-f", file), &report))
		// Istio-shape errors by Gateway and server index.
		onServer := map[string]map[int][]string{}
		for _, f := range report.Findings {
			if f.Object.Kind != "Gateway" || f.Severity != "error" || !slices.Contains(istioShapeCodes, f.Code) {
				continue
			}
			m := serverField.FindStringSubmatch(f.Field)
			if m == nil {
				continue
			}
			i, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			key := f.Object.Namespace + "/" + f.Object.Name
			if onServer[key] == nil {
				onServer[key] = map[int][]string{}
			}
			onServer[key][i] = append(onServer[key][i], f.Code+" "+f.Field)
		}

		stored := decodeObjects(t, runJSONLines(t, nil, meshcert, "inject", "-f", file), "meshcert inject -f "+rel)
		gateways := map[string]int{}
		for _, obj := range stored {
			if isIstioGateway(obj.Object) {
				gateways[gatewayKey(obj.Object)]++
			}
		}
		for _, obj := range stored {
			gw := obj.Object
			if !isIstioGateway(gw) {
				continue
			}
			key := gatewayKey(gw)
			spec, _ := gw["spec"].(map[string]any)
			list, _ := spec["servers"].([]any)
			if len(list) == 0 || gateways[key] > 1 {
				// No server to judge, or findings that cannot be told
				// apart by the Gateway's name.
				continue
			}
			outside := map[string]bool{}
			for _, e := range oracle.judge(t, withServers(gw, probeServer)).Errors {
				outside[e] = true
			}
			for i, s := range list {
				servers++
				var own []string
				for _, e := range oracle.judge(t, withServers(gw, s)).Errors {
					if !outside[e] {
						own = append(own, e)
					}
				}
				found := onServer[key][i]
				where := fmt.Sprintf("%s %s spec.servers[%d]", rel, key, i)
				if len(own) > 0 {
					rejected++
					if len(found) == 0 {
						disagreements = append(disagreements, fmt.Sprintf("%s: Istio rejects the server (%s), meshcert reports no Istio-shape error on it",
							where, strings.Join(own, "; ")))
					}
					continue
				}
				var wrong []string
				for _, f := range found {
					if !strings.HasPrefix(f, "MC2012 ") {
						wrong = append(wrong, f)
					}
				}
				if len(wrong) > 0 {
					disagreements = append(disagreements, fmt.Sprintf("%s: Istio accepts the server, meshcert reports %s", where, strings.Join(wrong, ", ")))
				}
			}
		}
	}
	require.Positive(t, servers, "no server judged")
	t.Logf("%d servers judged one by one by Istio's validation; it rejects %d", servers, rejected)
	sort.Strings(disagreements)
	for _, d := range disagreements {
		t.Errorf("disagreement: %s", d)
	}
}

func isIstioGateway(obj map[string]any) bool {
	api, _ := obj["apiVersion"].(string)
	return obj["kind"] == "Gateway" && strings.HasPrefix(api, "networking.istio.io/")
}

// gatewayKey is namespace/name, with the namespace Istio's validation and
// meshcert give an object that has none.
func gatewayKey(obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	name, _ := md["name"].(string)
	if ns == "" {
		ns = "default"
	}
	return ns + "/" + name
}

// withServers is a copy of the Gateway whose spec has the given servers
// only; the rest is shared with gw, which stays unchanged.
func withServers(gw map[string]any, servers ...any) map[string]any {
	out := maps.Clone(gw)
	spec, _ := gw["spec"].(map[string]any)
	spec = maps.Clone(spec)
	spec["servers"] = servers
	out["spec"] = spec
	return out
}
