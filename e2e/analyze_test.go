package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// analyzerCodes maps the messages of Istio's Gateway analyzers the issue
// names to the meshcert findings that must accompany them on the same
// Gateway.
var analyzerCodes = map[string][]string{
	// GatewayDuplicateCertificate: two Gateways on one workload, one credential.
	"IST0138": {"MC4003"},
	// ConflictingGateways: one host on one port and bind.
	"IST0145": {"MC3003", "MC3004", "MC8002"},
	// InvalidGatewayCredential: a Secret istiod cannot serve.
	"IST0161": {"MC4010"},
	// GatewayPortNotDefinedOnService: a port the Service does not expose.
	"IST0162": {"MC4011"},
}

// The other Gateways an IST0138 or IST0145 message names.
var (
	duplicateCertificateGateways = regexp.MustCompile(`multiple gateways \[([^\]]*)\]`)
	conflictingGateways          = regexp.MustCompile(`^Conflict with gateways (\S+) \(workload selector .*, port (\d+), hosts (.*)\)\.$`)
)

// namedGateways returns the Gateways an analyzer message names as
// namespace/name, itself left out.
func namedGateways(m istioMessage) []string {
	var list []string
	if g := duplicateCertificateGateways.FindStringSubmatch(m.Message); g != nil {
		list = strings.Fields(g[1])
	} else if g := conflictingGateways.FindStringSubmatch(m.Message); g != nil {
		list = strings.Split(g[1], ",")
	}
	var out []string
	for _, name := range list {
		if !strings.Contains(name, "/") {
			name = "default/" + name
		}
		if name != namespaceOf(m)+"/"+m.Resource.Name {
			out = append(out, name)
		}
	}
	return out
}

// namespaceOf is the namespace of the message's object as meshcert names
// it: meshcert, like kubectl, puts an object without a namespace into
// "default" (the oracle's -namespace would also filter the messages).
func namespaceOf(m istioMessage) string {
	if m.Resource.Namespace == "" {
		return "default"
	}
	return m.Resource.Namespace
}

// reverseCodes are the meshcert findings whose Istio counterpart is
// counted in the other direction.
var reverseCodes = map[string][]string{
	"IST0138": {"MC4003"},
	"IST0145": {"MC3003", "MC3004", "MC8002"},
	"IST0101": {"MC4001", "MC4006"},
	"IST0161": {"MC4010"},
	"IST0162": {"MC4011"},
}

var andMore = regexp.MustCompile(` and \d+ more\b`)

// referenceNotFound parses IST0101, Istio's ReferencedResourceNotFound.
var referenceNotFound = regexp.MustCompile(`^Referenced (credentialName|selector) not found: "(.*)"$`)

type istioMessage struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Resource struct {
		Kind, Namespace, Name string
	} `json:"resource"`
}

// analyzeInput is what meshcert sees of a file: its findings, and the
// objects `meshcert inject` prints (the input, with the Certificates it
// plans).
type analyzeInput struct {
	// findings holds the messages of each "namespace/name code".
	findings map[string][]string
	objects  []*unstructured.Unstructured
}

// has reports a finding of one of codes on the Gateway; when others is not
// empty, its message must name one of those Gateways, so a finding about
// another pair does not count.
func (in analyzeInput) has(namespace, name string, others []string, codes ...string) bool {
	return slices.ContainsFunc(codes, func(code string) bool {
		return slices.ContainsFunc(in.findings[namespace+"/"+name+" "+code], func(message string) bool {
			// A finding names five Gateways and counts the rest.
			return len(others) == 0 || andMore.MatchString(message) || slices.ContainsFunc(others, func(other string) bool {
				return regexp.MustCompile(`Gateway ` + regexp.QuoteMeta(other) + `\b`).MatchString(message)
			})
		})
	})
}

// certificateWrites reports whether a Certificate in the input or in
// meshcert's plan writes Secret name: cert-manager will create what Istio
// finds missing now.
func (in analyzeInput) certificateWrites(name string) bool {
	return slices.ContainsFunc(in.objects, func(o *unstructured.Unstructured) bool {
		secret, _, _ := unstructured.NestedString(o.Object, "spec", "secretName")
		return o.GetKind() == "Certificate" && secret == name
	})
}

// sharesListener reports whether one of the Gateways an IST0145 message
// names really has a server on its port, with one of its hosts and the same
// bind, as istiod's merge (model.CheckDuplicates) compares them.
func (in analyzeInput) sharesListener(namespace, name string, m istioMessage) bool {
	g := conflictingGateways.FindStringSubmatch(m.Message)
	if g == nil {
		return true
	}
	port, hosts := g[2], strings.Split(g[3], ",")
	var binds []string
	for _, srv := range in.servers(namespace + "/" + name) {
		if srv.port == port && slices.Equal(srv.hosts, hosts) {
			binds = append(binds, srv.bind)
		}
	}
	for _, other := range namedGateways(m) {
		for _, srv := range in.servers(other) {
			if srv.port == port && slices.Contains(binds, srv.bind) && slices.ContainsFunc(srv.hosts, func(h string) bool { return slices.Contains(hosts, h) }) {
				return true
			}
		}
	}
	return false
}

// hasKind reports whether the input holds an object of kind.
func (in analyzeInput) hasKind(kind string) bool {
	return slices.ContainsFunc(in.objects, func(o *unstructured.Unstructured) bool { return o.GetKind() == kind })
}

// readsSecretWithoutData reports whether a server of the Gateway names a
// Secret the input holds with no data at all.
func (in analyzeInput) readsSecretWithoutData(gateway string) bool {
	for _, o := range in.objects {
		if o.GetKind() != "Gateway" || o.GetNamespace()+"/"+o.GetName() != gateway {
			continue
		}
		list, _, _ := unstructured.NestedSlice(o.Object, "spec", "servers")
		for _, raw := range list {
			srv, _ := raw.(map[string]any)
			name, _, _ := unstructured.NestedString(srv, "tls", "credentialName")
			if name != "" && slices.ContainsFunc(in.objects, func(s *unstructured.Unstructured) bool {
				data, _, _ := unstructured.NestedMap(s.Object, "data")
				return s.GetKind() == "Secret" && s.GetName() == name && len(data) == 0
			}) {
				return true
			}
		}
	}
	return false
}

type serverListener struct {
	port, bind string
	hosts      []string
}

// servers lists the servers of Gateway namespace/name in the input.
func (in analyzeInput) servers(gateway string) []serverListener {
	var out []serverListener
	for _, o := range in.objects {
		ns := o.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		if o.GetKind() != "Gateway" || ns+"/"+o.GetName() != gateway {
			continue
		}
		list, _, _ := unstructured.NestedSlice(o.Object, "spec", "servers")
		for _, raw := range list {
			srv, _ := raw.(map[string]any)
			number, _, _ := unstructured.NestedFieldNoCopy(srv, "port", "number")
			bind, _, _ := unstructured.NestedString(srv, "bind")
			hosts, _, _ := unstructured.NestedStringSlice(srv, "hosts")
			out = append(out, serverListener{port: fmt.Sprint(number), bind: bind, hosts: hosts})
		}
	}
	return out
}

// workloadsExplain reports why meshcert has no MC4006 where Istio finds no
// Pod for a selector: meshcert reads gateway workloads from Deployments,
// StatefulSets and DaemonSets too, and says nothing when the input holds no
// workload at all (a Gateway file alone proves nothing about the cluster).
func (in analyzeInput) workloadsExplain(selector string) string {
	sel, err := labels.Parse(selector)
	if err != nil {
		return ""
	}
	workloads := 0
	for _, o := range in.objects {
		podLabels := o.GetLabels()
		switch o.GetKind() {
		case "Pod":
		case "Deployment", "StatefulSet", "DaemonSet":
			podLabels, _, _ = unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
		default:
			continue
		}
		workloads++
		if sel.Matches(labels.Set(podLabels)) && o.GetKind() != "Pod" {
			return "a " + o.GetKind() + " in the input runs the selected workload"
		}
	}
	if workloads == 0 {
		return "the input holds no gateway workload"
	}
	return ""
}

func readAnalyzeInput(t *testing.T, meshcert, file string) analyzeInput {
	t.Helper()
	var report struct {
		Findings []meshcertFinding `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(runJSONLines(t, nil, meshcert, "check", "-o", "json", "-f", file), &report))
	in := analyzeInput{findings: map[string][]string{}}
	for _, f := range report.Findings {
		if f.Object.Kind == "Gateway" {
			key := f.Object.Namespace + "/" + f.Object.Name + " " + f.Code
			in.findings[key] = append(in.findings[key], f.Message)
		}
	}
	in.objects = decodeObjects(t, runJSONLines(t, nil, meshcert, "inject", "-f", file), "meshcert inject -f "+file)
	return in
}

// TestAnalyzerMessagesHaveMeshcertFindings runs Istio's own analyzers (as
// istioctl analyze does offline, keeping the Pods and Secrets in the files)
// and meshcert over the repository's inputs, each file on its own: every
// IST0138, IST0145 and IST0101 Istio raises on a Gateway has the matching
// meshcert finding on it, or one of the documented reasons it need not
// (docs/fidelity.md).
func TestAnalyzerMessagesHaveMeshcertFindings(t *testing.T) {
	tools, meshcert := fidelityTools(t)

	var missing []string
	compared := map[string]int{}
	explained := map[string]int{}
	unloadable := 0
	reverse, reverseExample := map[string]int{}, map[string]string{}
	for _, file := range corpus(t) {
		rel, err := filepath.Rel(repoRoot, file)
		require.NoError(t, err)
		cmd := exec.CommandContext(t.Context(), tools.IstioOracle, "analyze", file)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			// Istio's analyzers cannot load an object its schema rejects (an
			// unknown TLS mode, a field of the wrong type); the validation
			// comparison covers those files.
			require.Contains(t, stderr.String(), "failed to add files", "%s: %v", rel, err)
			unloadable++
			continue
		}
		var in *analyzeInput
		raised := map[string]bool{}
		for line := range bytes.SplitSeq(bytes.TrimSpace(out), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var m istioMessage
			require.NoError(t, json.Unmarshal(line, &m), string(line))
			if m.Resource.Kind != "Gateway" {
				continue
			}
			want, ok := analyzerCodes[m.Code]
			ref := referenceNotFound.FindStringSubmatch(m.Message)
			if !ok && (m.Code != "IST0101" || ref == nil) {
				continue
			}
			if in == nil {
				read := readAnalyzeInput(t, meshcert, file)
				in = &read
			}
			ns := namespaceOf(m)
			raised[ns+"/"+m.Resource.Name+" "+m.Code] = true
			compared[m.Code]++
			var reason string
			switch {
			case m.Code == "IST0145":
				if !in.sharesListener(ns, m.Resource.Name, m) {
					reason = "Istio names only Gateways without that host on that port and bind (its analyzer adds each server's hosts to the other Gateway's host map as it goes)"
				}
			case m.Code == "IST0161":
				if in.readsSecretWithoutData(ns + "/" + m.Resource.Name) {
					reason = "a Secret with no data at all stands for one kept out of the files"
				}
			case m.Code == "IST0162":
				if !in.hasKind("Service") {
					reason = "the input holds no Service, so nothing says which ports reach the gateway"
				}
			case ok:
			case ref[1] == "credentialName":
				// What meshcert says of a credential that is missing now, or
				// of one Istio would never read.
				// MC4008: istiod refuses the reference; MC8001, MC8006 and
				// MC4009: meshcert will not write it, and says why.
				want = []string{"MC4001", "MC2002", "MC2003", "MC2010", "MC4008", "MC8001", "MC8006", "MC4009"}
				if in.certificateWrites(ref[2]) {
					reason = "a Certificate writes it"
				}
			default:
				want = []string{"MC4006"}
				reason = in.workloadsExplain(ref[2])
			}
			switch {
			case in.has(ns, m.Resource.Name, namedGateways(m), want...):
			case reason != "":
				explained[m.Code+": "+reason]++
			default:
				missing = append(missing, fmt.Sprintf("%s Gateway %s/%s: Istio says %s (%s), meshcert reports none of %s",
					rel, ns, m.Resource.Name, m.Code, m.Message, strings.Join(want, ", ")))
			}
		}
		// The reverse direction is documented, not required: count it.
		if in == nil {
			read := readAnalyzeInput(t, meshcert, file)
			in = &read
		}
		for key := range in.findings {
			object, code, _ := strings.Cut(key, " ")
			for istio, codes := range reverseCodes {
				if slices.Contains(codes, code) && !raised[object+" "+istio] {
					reverse[code+" without "+istio]++
					reverseExample[code+" without "+istio] = rel + " " + object
				}
			}
		}
	}
	for what, n := range reverse {
		t.Logf("meshcert only: %d × %s (e.g. %s)", n, what, reverseExample[what])
	}
	for _, code := range []string{"IST0101", "IST0138", "IST0145", "IST0161", "IST0162"} {
		require.Positive(t, compared[code], "the corpus raises no %s, so nothing was compared", code)
	}
	t.Logf("analyzer messages compared: %v; files the analyzers cannot load: %d", compared, unloadable)
	for reason, n := range explained {
		t.Logf("explained, not a meshcert finding: %d × %s", n, reason)
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("missing: %s", m)
	}
}
