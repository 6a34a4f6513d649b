package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// mergeRequest and mergeVerdict are the Istio oracle's `merge` contract
// (e2e/oracles/istio/merge.go), with the fields the comparison reads.
type mergeRequest struct {
	ID       string         `json:"id"`
	Config   string         `json:"config"`
	Services []mergeService `json:"services"`
	Proxy    mergeProxy     `json:"proxy"`
}

type mergeService struct {
	Namespace string             `json:"namespace"`
	Name      string             `json:"name"`
	Ports     []mergeServicePort `json:"ports"`
}

type mergeServicePort struct {
	Port       int `json:"port"`
	TargetPort int `json:"targetPort"`
}

type mergeProxy struct {
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}

type mergeVerdict struct {
	ID      string `json:"id"`
	Error   string `json:"error"`
	Configs []struct {
		Name                        string `json:"name"`
		Origin                      string `json:"origin"`
		Object                      string `json:"object"`
		Applied                     bool   `json:"applied"`
		AppliedWithoutStrictMerging bool   `json:"appliedWithoutStrictMerging"`
	} `json:"configs"`
	Servers []struct {
		Config       string   `json:"config"`
		Origin       string   `json:"origin"`
		Object       string   `json:"object"`
		Index        int      `json:"index"`
		Port         uint32   `json:"port"`
		Protocol     string   `json:"protocol"`
		Hosts        []string `json:"hosts"`
		TLS          bool     `json:"tls"`
		Kept         bool     `json:"kept"`
		SkippedFor   []string `json:"skippedFor"`
		DuplicateSNI []string `json:"duplicateSNI"`
	} `json:"servers"`
}

// mergeCase is one input: meshcert checks all of it; the oracle gets its
// networking.istio.io and Gateway API objects and one request per proxy
// (a gateway workload of the input).
type mergeCase struct {
	name    string
	input   string
	proxies []mergeProxyCase
	// documented says why meshcert differs from istiod on this case, as
	// docs/fidelity.md lists it; the case must still differ.
	documented string
}

type mergeProxyCase struct {
	name     string
	proxy    mergeProxy
	services []mergeService
}

// TestWorkloadMergeAgreesWithIstiod compares meshcert's rule for Istio
// Gateways and Gateway API listeners on one gateway workload
// (gatewayapi/workload.go, certs/conflict_hosts.go) with what istiod's own
// code does (the Istio oracle's `merge` mode: the Gateway API conversion,
// PushContext's gateway merge with strict merging, and the gateway
// listeners it generates, in Istio's fake discovery server). For every
// case and gateway proxy of the input:
//   - meshcert reports MC3003 or MC8002 on an object's host on a port
//     exactly when istiod skips that server for a duplicate host, keeps it
//     as the server another one was skipped for, or sends its SNI match
//     twice on one listener (Envoy rejects the listener; several match-all
//     chains replace each other);
//   - meshcert reports MC2025 on an Istio Gateway exactly when strict
//     merging alone keeps it off a proxy its selector picks.
//
// Servers istiod skips for another reason (a protocol clash on a port) are
// logged, not compared: they are no host conflict.
func TestWorkloadMergeAgreesWithIstiod(t *testing.T) {
	tools, meshcert := fidelityTools(t)
	cases := mergeCorpus()

	var stdin bytes.Buffer
	enc := json.NewEncoder(&stdin)
	requests := 0
	for _, c := range cases {
		for _, p := range c.proxies {
			require.NoError(t, enc.Encode(mergeRequest{
				ID: c.name + " | " + p.name, Config: oracleObjects(t, c.input), Services: p.services, Proxy: p.proxy,
			}))
			requests++
		}
	}
	out := runJSONLines(t, stdin.Bytes(), tools.IstioOracle, "merge")
	verdicts := map[string][]mergeVerdict{}
	answered := 0
	for line := range bytes.SplitSeq(bytes.TrimSpace(out), []byte("\n")) {
		var v mergeVerdict
		require.NoError(t, json.Unmarshal(line, &v), "%s", line)
		require.Empty(t, v.Error, "the oracle could not answer %s", v.ID)
		name, _, _ := strings.Cut(v.ID, " | ")
		verdicts[name] = append(verdicts[name], v)
		answered++
	}
	require.Equal(t, requests, answered, "the oracle answers one line per request")

	dir := t.TempDir()
	var disagreements []string
	conflicts, strict, otherSkips, documented := 0, 0, 0, 0
	for i, c := range cases {
		file := filepath.Join(dir, fmt.Sprintf("case-%02d.yaml", i))
		require.NoError(t, os.WriteFile(file, []byte(c.input), 0o600))
		var report struct {
			Findings []struct {
				Code   string `json:"code"`
				Object struct {
					APIVersion string `json:"apiVersion"`
					Kind       string `json:"kind"`
					Namespace  string `json:"namespace"`
					Name       string `json:"name"`
				} `json:"object"`
				Field string `json:"field"`
			} `json:"findings"`
		}
		require.NoError(t, json.Unmarshal(runJSONLines(t, nil, meshcert, "check", "-o", "json", "-f", file), &report), c.name)
		hosts := hostsByField(t, c.input)
		meshcertSays := map[string]string{}
		for _, f := range report.Findings {
			kind := objectKind(f.Object.APIVersion, f.Object.Kind)
			switch f.Code {
			case "MC3003", "MC8002":
				h, ok := hosts[kind+" "+f.Object.Namespace+"/"+f.Object.Name+" "+f.Field]
				require.True(t, ok, "%s: meshcert's %s on %s %s/%s %s names no host of the input", c.name, f.Code, kind, f.Object.Namespace, f.Object.Name, f.Field)
				meshcertSays[kind+" "+f.Object.Namespace+"/"+f.Object.Name+" "+h] += f.Code + " "
			case "MC2025":
				meshcertSays[kind+" "+f.Object.Namespace+"/"+f.Object.Name+" not merged"] += f.Code + " "
			}
		}

		istiodSays := map[string]string{}
		for _, v := range verdicts[c.name] {
			proxy := strings.SplitN(v.ID, " | ", 2)[1]
			converted := map[string]bool{}
			for _, cfg := range v.Configs {
				if cfg.Origin != "Gateway" {
					converted[cfg.Origin+" "+cfg.Object] = true
				}
				if cfg.Origin == "Gateway" && cfg.AppliedWithoutStrictMerging && !cfg.Applied {
					istiodSays["Gateway "+cfg.Object+" not merged"] += "strict merging keeps it off " + proxy + "; "
					strict++
				}
			}
			for _, o := range apiObjects(t, c.input) {
				assert.True(t, converted[o], "%s: istiod converted no listener of %s (the oracle's wait, or a case istiod refuses)", v.ID, o)
			}
			byID := map[string]int{}
			for i, s := range v.Servers {
				byID[s.Config+"#"+strconv.Itoa(s.Index)] = i
			}
			flag := func(i int, hosts []string, why string) {
				s := v.Servers[i]
				for _, h := range hosts {
					istiodSays[s.Origin+" "+s.Object+" "+strconv.Itoa(int(s.Port))+" "+normalHost(h)] += why + "; "
				}
				conflicts++
			}
			for i, s := range v.Servers {
				if !s.TLS {
					continue
				}
				switch {
				case !s.Kept && len(s.SkippedFor) > 0:
					for _, other := range s.SkippedFor {
						j, ok := byID[other]
						require.True(t, ok, "%s: skipped for unknown server %s", v.ID, other)
						shared := slices.DeleteFunc(slices.Clone(s.Hosts), func(h string) bool { return !slices.Contains(v.Servers[j].Hosts, h) })
						flag(i, shared, "skipped on "+proxy+" (hosts "+strings.Join(shared, ",")+" already served by "+other+")")
						flag(j, shared, "kept on "+proxy+", "+s.Config+" skipped for it")
					}
				case !s.Kept:
					t.Logf("%s: istiod skips %s server %d (%s %v) for another reason than a duplicate host; not compared", v.ID, s.Config, s.Index, s.Protocol, s.Hosts)
					otherSkips++
				}
				if len(s.DuplicateSNI) > 0 {
					var dup []string
					for _, d := range s.DuplicateSNI {
						dup = append(dup, strings.Split(d, ",")...)
					}
					flag(i, dup, "SNI match "+strings.Join(dup, ",")+" sent twice on "+proxy)
				}
			}
		}
		differs := 0
		for _, key := range slices.Sorted(mapKeysOf(meshcertSays, istiodSays)) {
			m, is := meshcertSays[key], istiodSays[key]
			if (m == "") == (is == "") {
				continue
			}
			differs++
			line := fmt.Sprintf("case %q: %s\n    meshcert: %s\n    istiod:   %s", c.name, key, orNothing(m), orNothing(is))
			if c.documented != "" {
				t.Logf("documented difference (%s):\n%s", c.documented, line)
				documented++
				continue
			}
			disagreements = append(disagreements, line)
		}
		if c.documented != "" && differs == 0 {
			disagreements = append(disagreements, fmt.Sprintf("case %q: meshcert now agrees with istiod; remove the documented difference (%s) here and in docs/fidelity.md", c.name, c.documented))
		}
		if t.Failed() || len(disagreements) > 0 && strings.Contains(disagreements[len(disagreements)-1], strconv.Quote(c.name)) {
			t.Logf("case %q input:\n%s", c.name, c.input)
		}
	}
	t.Logf("compared %d cases (%d proxies) with istiod: %d server conflicts, %d Istio Gateways kept off by strict merging, %d other skips; %d documented differences, %d disagreements",
		len(cases), requests, conflicts, strict, otherSkips, documented, len(disagreements))
	// Both outcomes occur, so the comparison can fail either way.
	assert.Positive(t, conflicts)
	assert.Positive(t, strict)
	if len(disagreements) > 0 {
		t.Errorf("meshcert and istiod disagree %d times:\n%s", len(disagreements), strings.Join(disagreements, "\n"))
	}
}

func orNothing(s string) string {
	if s == "" {
		return "nothing"
	}
	return strings.TrimSuffix(strings.TrimSpace(s), ";")
}

func mapKeysOf(maps ...map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		seen := map[string]bool{}
		for _, m := range maps {
			for k := range m {
				if !seen[k] {
					seen[k] = true
					if !yield(k) {
						return
					}
				}
			}
		}
	}
}

// objectKind tells Istio Gateways ("Gateway") from Gateway API Gateways
// ("KubernetesGateway", istiod's name) and ListenerSets.
func objectKind(apiVersion, kind string) string {
	if strings.HasPrefix(apiVersion, "gateway.networking.k8s.io/") && kind == "Gateway" {
		return "KubernetesGateway"
	}
	return kind
}

// normalHost is a host without its namespace part, in lower case, as both
// sides compare them.
func normalHost(h string) string {
	if _, after, ok := strings.Cut(h, "/"); ok {
		h = after
	}
	return strings.ToLower(h)
}

type mergeDoc struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Servers []struct {
			Port  struct{ Number int } `json:"port"`
			Hosts []string             `json:"hosts"`
		} `json:"servers"`
		Listeners []struct {
			Port     int     `json:"port"`
			Protocol string  `json:"protocol"`
			Hostname *string `json:"hostname"`
		} `json:"listeners"`
	} `json:"spec"`
}

func mergeDocs(t *testing.T, input string) ([]string, []mergeDoc) {
	t.Helper()
	var raw []string
	var docs []mergeDoc
	for doc := range strings.SplitSeq(input, "\n---\n") {
		var d mergeDoc
		require.NoError(t, yaml.Unmarshal([]byte(doc), &d))
		if d.Kind != "" {
			raw, docs = append(raw, doc), append(docs, d)
		}
	}
	return raw, docs
}

// oracleObjects are the input's Istio and Gateway API objects: the oracle
// makes the proxies' Services itself, so the cluster's registry does not
// hold them twice.
func oracleObjects(t *testing.T, input string) string {
	raw, docs := mergeDocs(t, input)
	var out []string
	for i, d := range docs {
		if strings.HasPrefix(d.APIVersion, "networking.istio.io/") || strings.HasPrefix(d.APIVersion, "gateway.networking.k8s.io/") {
			out = append(out, raw[i])
		}
	}
	return strings.Join(out, "\n---\n")
}

func apiObjects(t *testing.T, input string) []string {
	_, docs := mergeDocs(t, input)
	var out []string
	for _, d := range docs {
		if strings.HasPrefix(d.APIVersion, "gateway.networking.k8s.io/") && (d.Kind == "Gateway" || d.Kind == "ListenerSet") {
			out = append(out, objectKind(d.APIVersion, d.Kind)+" "+d.Metadata.Namespace+"/"+d.Metadata.Name)
		}
	}
	return out
}

// hostsByField maps "Kind ns/name field" of every host of the input to
// "port host", as meshcert's findings name them.
func hostsByField(t *testing.T, input string) map[string]string {
	_, docs := mergeDocs(t, input)
	out := map[string]string{}
	for _, d := range docs {
		prefix := objectKind(d.APIVersion, d.Kind) + " " + d.Metadata.Namespace + "/" + d.Metadata.Name + " "
		for i, s := range d.Spec.Servers {
			for j, h := range s.Hosts {
				out[prefix+fmt.Sprintf("spec.servers[%d].hosts[%d]", i, j)] = strconv.Itoa(s.Port.Number) + " " + normalHost(h)
			}
		}
		for i, l := range d.Spec.Listeners {
			port := l.Port
			if port == 0 && l.Protocol == "HTTPS" {
				port = 443 // a ListenerSet listener without one
			}
			h := "*"
			if l.Hostname != nil && *l.Hostname != "" {
				h = *l.Hostname
			}
			out[prefix+fmt.Sprintf("spec.listeners[%d].hostname", i)] = strconv.Itoa(port) + " " + normalHost(h)
		}
	}
	return out
}

// mergeCorpus is offline/gatewayapi_workload_test.go's table, each case
// with the gateway proxies of its input, and cases of its own.
func mergeCorpus() []mergeCase {
	const common = `apiVersion: v1
kind: Pod
metadata: {name: ingress, namespace: infra, labels: {istio: ingressgateway}}
---
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: infra}
spec: {selector: {istio: ingressgateway}, ports: [{port: 443, targetPort: 8443}]}
---
`
	istioGateway := func(namespace, selector, protocol, tls string) string {
		return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: %s}
spec:
  selector: {%s}
  servers:
  - port: {number: 443, name: https, protocol: %s}
    hosts: [api.example.com]
%s
`, namespace, selector, protocol, tls)
	}
	const simple = "    tls: {mode: SIMPLE, credentialName: shop-tls}"
	apiGateway := func(namespace, addresses, protocol string) string {
		return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api, namespace: %s}
spec:
  gatewayClassName: istio
  addresses: [%s]
  allowedListeners: {namespaces: {from: All}}
  listeners:
  - {name: https, port: 443, protocol: %s, hostname: api.example.com, tls: {certificateRefs: [{name: api-tls}]}}
`, namespace, addresses, protocol)
	}
	listenerSet := `apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: team, namespace: team-a}
spec:
  parentRef: {name: api, namespace: infra}
  listeners:
  - {name: https, port: 443, protocol: HTTPS, hostname: shop.example.com, tls: {certificateRefs: [{name: shop-tls}]}}
`
	const manual = "{type: Hostname, value: istio-ingressgateway}"
	const gatewayPods = "gateway.networking.k8s.io/gateway-name: api"
	dated := func(manifest, created string) string {
		return strings.Replace(manifest, "metadata: {", "metadata: {creationTimestamp: \""+created+"\", ", 1)
	}
	hosts := func(manifest, hosts string) string {
		return strings.Replace(manifest, "hosts: [api.example.com]", "hosts: ["+hosts+"]", 1)
	}

	// The gateway istiod deploys for Gateway namespace/name: its Pods'
	// labels (istiod's kube-gateway.yaml template) and its Service.
	managed := func(namespace, name string, ports ...int) mergeProxyCase {
		svc := mergeService{Namespace: namespace, Name: name + "-istio"}
		for _, p := range ports {
			svc.Ports = append(svc.Ports, mergeServicePort{Port: p, TargetPort: p})
		}
		return mergeProxyCase{
			name: "the gateway istiod deploys for " + namespace + "/" + name,
			proxy: mergeProxy{Namespace: namespace, Labels: map[string]string{
				"sidecar.istio.io/inject":                      "false",
				"service.istio.io/canonical-name":              name + "-istio",
				"service.istio.io/canonical-revision":          "latest",
				"gateway.networking.k8s.io/gateway-name":       name,
				"gateway.networking.k8s.io/gateway-class-name": "istio",
				"gateway.istio.io/managed":                     "istio.io-gateway-controller",
			}},
			services: []mergeService{svc},
		}
	}
	// The common input's Pod infra/ingress behind Service istio-ingressgateway.
	ingress := mergeProxyCase{
		name:     "Pod infra/ingress",
		proxy:    mergeProxy{Namespace: "infra", Labels: map[string]string{"istio": "ingressgateway"}},
		services: []mergeService{{Namespace: "infra", Name: "istio-ingressgateway", Ports: []mergeServicePort{{Port: 443, TargetPort: 8443}}}},
	}
	deployed := []mergeProxyCase{managed("infra", "api", 443), ingress}
	manualOnly := []mergeProxyCase{ingress}

	c := func(name string, proxies []mergeProxyCase, docs ...string) mergeCase {
		return mergeCase{name: name, input: common + strings.Join(docs, "---\n"), proxies: proxies}
	}
	documented := func(c mergeCase, why string) mergeCase {
		c.documented = why
		return c
	}
	return []mergeCase{
		// offline/gatewayapi_workload_test.go
		c("an Istio Gateway of the Gateway's namespace on the gateway istiod deploys cannot serve the listener's host with tls settings too", deployed,
			istioGateway("infra", gatewayPods, "HTTPS", simple), apiGateway("infra", "", "HTTPS")),
		documented(c("a TLS listener's host counts as an HTTPS one's", deployed,
			istioGateway("infra", gatewayPods, "HTTPS", simple), apiGateway("infra", "", "TLS")),
			"a TLS listener gets its filter chains from the TLSRoutes attached to it, which this oracle cannot attach; meshcert reports the conflict they bring"),
		c("on the gateway istiod deploys, an Istio Gateway of another namespace is not merged", deployed,
			istioGateway("team-b", gatewayPods, "HTTPS", simple), apiGateway("infra", "", "HTTPS")),
		documented(c("an Istio Gateway without a selector is meant for every gateway, and is not told", deployed,
			strings.Replace(istioGateway("team-b", "", "HTTPS", simple), "  selector: {}\n", "", 1), apiGateway("infra", "", "HTTPS")),
			"an Istio Gateway without a selector is meant for every gateway, so MC2025 does not name the ones istiod keeps it off"),
		c("an Istio Gateway selecting other Pods is not on the Gateway's workload", deployed,
			istioGateway("infra", "istio: ingressgateway", "HTTPS", simple), apiGateway("infra", "", "HTTPS")),
		c("an Istio Gateway serving the host in plain text is no TLS conflict", deployed,
			istioGateway("infra", gatewayPods, "HTTP", ""), apiGateway("infra", "", "HTTPS")),
		c("a manual deployment runs on the Pods its Service selects, where an older Istio Gateway of another namespace owns the host", manualOnly,
			dated(istioGateway("team-b", "istio: ingressgateway", "HTTPS", simple), "2026-01-01T00:00:00Z"), dated(apiGateway("infra", manual, "HTTPS"), "2026-02-01T00:00:00Z")),
		c("without timestamps neither is known to be first, and both are told", manualOnly,
			istioGateway("team-b", "istio: ingressgateway", "HTTPS", simple), apiGateway("infra", manual, "HTTPS")),
		c("a newer Istio Gateway of another namespace may not take the host of an older Gateway on its Pods", manualOnly,
			dated(istioGateway("team-b", "istio: ingressgateway", "HTTPS", simple), "2026-02-01T00:00:00Z"), dated(apiGateway("infra", manual, "HTTPS"), "2026-01-01T00:00:00Z")),
		c("an address naming a Service of another namespace is one istiod never matches", manualOnly,
			istioGateway("team-b", "istio: ingressgateway", "HTTPS", simple), apiGateway("infra", "{type: Hostname, value: istio-ingressgateway.istio-system.svc.cluster.local}", "HTTPS")),
		c("a fully qualified address of the Gateway's namespace is its Service", manualOnly,
			istioGateway("team-b", "istio: ingressgateway", "HTTPS", simple), apiGateway("infra", "{type: Hostname, value: istio-ingressgateway.infra.svc.cluster.local}", "HTTPS")),
		c("one IP address is still a gateway istiod deploys", deployed,
			istioGateway("team-b", "istio: ingressgateway", "HTTPS", simple), apiGateway("infra", "{type: IPAddress, value: 10.0.0.1}", "HTTPS")),
		c("a ListenerSet's listeners run on its Gateway's workload, with the Istio Gateways of the Gateway's namespace", deployed,
			strings.Replace(istioGateway("infra", gatewayPods, "HTTPS", simple), "api.example.com", "shop.example.com", 1), apiGateway("infra", "", "HTTPS"), listenerSet),

		// Both spellings of a host in the Istio Gateway: as the listener
		// spells it (istiod skips one server) or not (it keeps both).
		c("an Istio Gateway host spelled namespace/host as the listener's is", deployed,
			hosts(istioGateway("infra", gatewayPods, "HTTPS", simple), "infra/api.example.com"), apiGateway("infra", "", "HTTPS")),
		c("an Istio Gateway host spelled ./host", deployed,
			hosts(istioGateway("infra", gatewayPods, "HTTPS", simple), "./api.example.com"), apiGateway("infra", "", "HTTPS")),
		c("an Istio Gateway host spelled */host", deployed,
			hosts(istioGateway("infra", gatewayPods, "HTTPS", simple), `"*/api.example.com"`), apiGateway("infra", "", "HTTPS")),
		c("a dated Istio Gateway host spelled namespace/host on a manual deployment, newer than the Gateway", manualOnly,
			dated(hosts(istioGateway("infra", "istio: ingressgateway", "HTTPS", simple), "infra/api.example.com"), "2026-02-01T00:00:00Z"), dated(apiGateway("infra", manual, "HTTPS"), "2026-01-01T00:00:00Z")),
		c("another host on the same gateway is no conflict", deployed,
			hosts(istioGateway("infra", gatewayPods, "HTTPS", simple), "shop.example.com"), apiGateway("infra", "", "HTTPS")),
		// Every host.
		c("an Istio Gateway serving * beside a listener without a hostname", deployed,
			hosts(istioGateway("infra", gatewayPods, "HTTPS", simple), `"*"`), strings.Replace(apiGateway("infra", "", "HTTPS"), "hostname: api.example.com, ", "", 1)),
		c("an Istio Gateway serving * beside a listener with a hostname", deployed,
			hosts(istioGateway("infra", gatewayPods, "HTTPS", simple), `"*"`), apiGateway("infra", "", "HTTPS")),
		// ListenerSets.
		c("an Istio Gateway of the ListenerSet's namespace on the gateway istiod deploys for its parent", deployed,
			strings.Replace(istioGateway("team-a", gatewayPods, "HTTPS", simple), "api.example.com", "shop.example.com", 1), apiGateway("infra", "", "HTTPS"), listenerSet),
		c("a ListenerSet's host beside an Istio Gateway of the parent's namespace on a manual deployment", manualOnly,
			strings.Replace(istioGateway("infra", "istio: ingressgateway", "HTTPS", simple), "api.example.com", "shop.example.com", 1), apiGateway("infra", manual, "HTTPS"), listenerSet),
		// Managed and manual: an Istio Gateway of another namespace on a
		// gateway istiod deploys, selected by another of its labels.
		c("an Istio Gateway of another namespace selecting the deployed gateway by its managed label", deployed,
			istioGateway("team-b", "gateway.istio.io/managed: istio.io-gateway-controller", "HTTPS", simple), apiGateway("infra", "", "HTTPS")),
		c("an Istio Gateway of another namespace on a manual deployment serving another host", manualOnly,
			hosts(istioGateway("team-b", "istio: ingressgateway", "HTTPS", simple), "shop.example.com"), apiGateway("infra", manual, "HTTPS")),
		// Ports: the Istio Gateway on the Service's target port, where a
		// legacy selector binds without translation.
		documented(c("an Istio Gateway on the Service's target port beside a listener on its port", manualOnly,
			strings.Replace(istioGateway("infra", "istio: ingressgateway", "HTTPS", simple), "number: 443", "number: 8443", 1), apiGateway("infra", manual, "HTTPS")),
			"meshcert compares ports as written, not through the Service's targetPort"),
	}
}
