package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/e2e/framework"
	"github.com/meshcert/meshcert/gatewayapi"
	"github.com/meshcert/meshcert/manifest"
)

// conditionsFixture holds one Gateway API listener per case istiod judges
// (conflicts, protocols, route kinds, certificateRefs, ReferenceGrants,
// ListenerSets admitted or not) and clean ones.
var conditionsFixture = filepath.Join("testdata", "gatewayapi", "conditions.yaml")

// listenerConditions are the conditions compared: Accepted, ResolvedRefs
// and Conflicted.
var listenerConditions = []string{"Accepted", "ResolvedRefs", "Conflicted"}

// conditionPhrase is how meshcert's findings say which condition istiod
// sets: "ResolvedRefs=False (InvalidCertificateRef)".
var conditionPhrase = regexp.MustCompile(`\b(Accepted|ResolvedRefs|Conflicted)=(True|False) \((\w+)\)`)

// listenerField is the listener index a finding's field is on.
var listenerField = regexp.MustCompile(`^spec\.listeners\[(\d+)\]`)

// conditionDifferences are the differences between istiod's conditions and
// meshcert's findings that docs/fidelity.md lists and explains, by
// "Kind namespace/name listener: condition". Each must still occur, so the
// list cannot rot.
var conditionDifferences = map[string]string{
	"Gateway infra/refs empty: ResolvedRefs": "a Secret with no data at all is, for meshcert, one whose contents are kept out of the files (sealed, or made by an operator), as for Istio Gateways; istiod finds no certificate in it",
}

// stricterListeners are listeners istiod accepts and resolves and meshcert
// reports an error on (docs/fidelity.md), by "Kind namespace/name listener",
// with the code: each must still be so.
var stricterListeners = map[string]string{
	// istiod loads the pair whatever its dates; every client refuses it.
	"Gateway infra/refs expired": "MC4010",
}

// TestGatewayAPIConditionsAgreeWithIstiod runs istiod (pilot-discovery of
// the pinned istio.io/istio) as the gateway controller of class istio
// against the real API server with the Gateway API CRDs, applies the
// fixture, waits for the status istiod writes on every Gateway and
// ListenerSet, and compares, listener by listener, its Accepted,
// ResolvedRefs and Conflicted conditions with what meshcert check says of
// the same file: each condition meshcert's findings on a listener name
// (conditionPhrase) must be istiod's, with its reason, and a listener with
// no such finding must be Accepted, ResolvedRefs and not Conflicted. A
// ListenerSet's own Accepted=False (NotAllowed) is compared the same way.
func TestGatewayAPIConditionsAgreeWithIstiod(t *testing.T) {
	meshcert, err := framework.MeshcertBinary(t.Context())
	require.NoError(t, err)
	cp := framework.Start(t, framework.WithoutCertManager(), framework.WithoutControllerManager())
	ctx := t.Context()
	c := cp.Client
	require.NoError(t, cp.InstallGatewayAPI(ctx))

	data, err := os.ReadFile(conditionsFixture)
	require.NoError(t, err)
	objs, err := manifest.Decode(conditionsFixture, data)
	require.NoError(t, err)
	for _, o := range objs {
		require.NoError(t, c.Create(ctx, o.Object), "creating %s %s/%s", o.Object.GetKind(), o.Object.GetNamespace(), o.Object.GetName())
	}
	// API server refusals the fixture cannot hold: meshcert leaves them to
	// the CRDs' rules (docs/gatewayapi.md).
	for name, listener := range map[string]string{
		"Passthrough on HTTPS":                  `{name: l, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {mode: Passthrough}}`,
		"one port, protocol and hostname twice": `{name: l, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a}]}}, {name: m, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a}]}}`,
		"tls on HTTP":                           `{name: l, port: 80, protocol: HTTP, tls: {certificateRefs: [{name: a}]}}`,
		"Terminate without certificateRefs":     `{name: l, port: 443, protocol: HTTPS, tls: {mode: Terminate}}`,
		"a hostname on TCP":                     `{name: l, port: 9000, protocol: TCP, hostname: a.example.com}`,
	} {
		gateway := "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: refused, namespace: infra}\nspec:\n  gatewayClassName: istio\n  listeners: [" + listener + "]\n"
		out, stderr, err := kubectlRun(t, cp, gateway, "apply", "--dry-run=server", "-f", "-")
		require.Error(t, err, "the API server accepts a Gateway with %s: %s", name, out)
		t.Logf("the API server refuses %s: %s", name, strings.TrimSpace(stderr))
	}

	began := time.Now()
	startIstiod(t, cp, framework.IstiodConfig{Env: []string{
		// No Deployments, Services or ServiceAccounts for the Gateways:
		// nothing would run them, and the listener conditions do not
		// depend on them.
		"PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER=false",
	}})
	statuses := waitIstiodStatus(t, cp, objs)
	t.Logf("istiod wrote the status of %d objects %s after it started", len(statuses), time.Since(began).Round(time.Millisecond))

	var report struct {
		Findings []meshcertFinding `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(runJSONLines(t, nil, meshcert, "check", "-o", "json", "-f", conditionsFixture), &report))
	said := meshcertConditions(report.Findings)
	errorsOn := map[string][]string{}
	for _, f := range report.Findings {
		if m := listenerField.FindStringSubmatch(f.Field); m != nil && f.Severity == "error" {
			key := f.Object.Kind + " " + f.Object.Namespace + "/" + f.Object.Name + " " + m[1]
			errorsOn[key] = append(errorsOn[key], f.Code)
		}
	}

	var disagreements []string
	seen := map[string]bool{}
	objects, listeners, conditions, notOK := 0, 0, 0, 0
	for _, o := range objs {
		kind := o.Object.GetKind()
		if kind != gatewayapi.KindGateway && kind != gatewayapi.KindListenerSet {
			continue
		}
		key := kind + " " + o.Object.GetNamespace() + "/" + o.Object.GetName()
		st := statuses[key]
		// The object's own Accepted=False (NotAllowed), for a ListenerSet.
		objects++
		if got, want := st.own, said[key+" "]; got.String() != want.String() {
			disagreements = append(disagreements, fmt.Sprintf("%s: istiod says %s, meshcert %s", key, got, want))
		} else if len(got) > 0 {
			t.Logf("%s itself: istiod %s, meshcert %s", key, got, want)
		}
		for i, name := range listenerNames(t, o.Object) {
			listeners++
			got, written := st.listeners[name]
			want := said[key+" "+strconv.Itoa(i)]
			if !written {
				// istiod writes no listener status for another class, or
				// for a ListenerSet it does not admit; meshcert must then
				// say nothing of the listener's conditions.
				if len(want) > 0 {
					disagreements = append(disagreements, fmt.Sprintf("%s %s: istiod writes no status, meshcert says %s", key, name, want))
				}
				continue
			}
			if code, stricter := stricterListeners[key+" "+name]; stricter {
				seen[key+" "+name] = true
				assert.Contains(t, errorsOn[key+" "+strconv.Itoa(i)], code, "%s %s: meshcert's stricter error", key, name)
				for _, cond := range listenerConditions {
					assert.True(t, got.judge(cond).ok(), "%s %s: istiod says %s %s", key, name, cond, got.judge(cond))
				}
			}
			var line []string
			for _, cond := range listenerConditions {
				conditions++
				g, w := got.judge(cond), want.judge(cond)
				if !g.ok() || !w.ok() {
					line = append(line, fmt.Sprintf("%s istiod %s, meshcert %s", cond, g, w))
				}
				if !g.ok() {
					notOK++
				}
				if g.agrees(w) {
					continue
				}
				id := key + " " + name + ": " + cond
				if _, listed := conditionDifferences[id]; listed {
					seen[id] = true
					continue
				}
				disagreements = append(disagreements, fmt.Sprintf("%s: istiod says %s, meshcert %s", id, g, w))
			}
			if len(line) > 0 {
				t.Logf("%s %s: %s", key, name, strings.Join(line, "; "))
			}
		}
	}
	t.Logf("%d objects, %d listeners, %d conditions compared, %d of them not OK in istiod's status; %d listed differences, %d listeners where meshcert is stricter, %d disagreements",
		objects, listeners, conditions, notOK, len(seen)-len(stricterListeners), len(stricterListeners), len(disagreements))
	assert.Empty(t, disagreements, "istiod's listener conditions and meshcert's findings disagree")
	for id, why := range conditionDifferences {
		assert.True(t, seen[id], "the listed difference %q (%s) no longer occurs: remove it here and from docs/fidelity.md", id, why)
	}
	for id := range stricterListeners {
		assert.True(t, seen[id], "the stricter listener %q is not in the fixture", id)
	}
}

// verdict is one condition: its status and reason(s).
type verdict struct {
	status  string
	reasons []string
}

func (v verdict) String() string {
	if v.status == "" {
		return "nothing"
	}
	return v.status + " (" + strings.Join(v.reasons, ", ") + ")"
}

// okStatus is each condition's status when istiod finds nothing wrong.
var okStatus = map[string]string{"Accepted": "True", "ResolvedRefs": "True", "Conflicted": "False"}

// conditionSet is what one side says of one listener (or of a
// ListenerSet itself): condition type to status and reasons.
type conditionSet map[string]verdict

func (s conditionSet) String() string {
	if len(s) == 0 {
		return "nothing"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s)) {
		parts = append(parts, k+"="+s[k].String())
	}
	return strings.Join(parts, ", ")
}

// judged is one condition as compared: the status (the OK status when the
// side says nothing) and the reasons.
type judged struct {
	cond, status string
	reasons      []string
}

func (s conditionSet) judge(cond string) judged {
	v, ok := s[cond]
	if !ok {
		// A conflicted listener has no ResolvedRefs (unless its route
		// kinds are invalid): nothing is unresolved.
		return judged{cond: cond, status: okStatus[cond]}
	}
	return judged{cond: cond, status: v.status, reasons: v.reasons}
}

func (j judged) ok() bool { return j.status == okStatus[j.cond] }

func (j judged) String() string {
	if j.ok() {
		return j.status
	}
	return j.status + " (" + strings.Join(j.reasons, " or ") + ")"
}

// agrees reports whether meshcert's w agrees with istiod's j: the same
// status and, when something is wrong, istiod's reason among meshcert's.
func (j judged) agrees(w judged) bool {
	if j.status != w.status {
		return false
	}
	return j.ok() || len(j.reasons) == 1 && slices.Contains(w.reasons, j.reasons[0])
}

// istiodStatus is what istiod wrote on one object: the conditions of each
// listener by name, and the object's own Accepted when it is False
// (NotAllowed, for a ListenerSet).
type istiodStatus struct {
	own       conditionSet
	listeners map[string]conditionSet
}

// waitIstiodStatus waits until istiod wrote, for the current generation,
// the conditions of every listener of every Gateway of class istio and of
// every ListenerSet attached to one (a ListenerSet it does not admit gets
// its own Accepted=False instead), and for them to stay the same for two
// seconds; it returns them by "Kind namespace/name".
func waitIstiodStatus(t *testing.T, cp *framework.ControlPlane, objs []*manifest.Object) map[string]istiodStatus {
	t.Helper()
	classOf := map[string]string{}
	for _, o := range objs {
		if o.Object.GetKind() == gatewayapi.KindGateway {
			class, _, _ := unstructured.NestedString(o.Object.Object, "spec", "gatewayClassName")
			classOf[o.Object.GetNamespace()+"/"+o.Object.GetName()] = class
		}
	}
	var out map[string]istiodStatus
	var versions string
	var stableSince time.Time
	eventuallyWithin(t, 2*time.Minute, "istiod's status on every Gateway and ListenerSet of class istio", func(ctx context.Context) error {
		next := map[string]istiodStatus{}
		var missing []string
		var nextVersions strings.Builder
		for _, kind := range []string{gatewayapi.KindGateway, gatewayapi.KindListenerSet} {
			list := &unstructured.UnstructuredList{}
			list.SetAPIVersion(gatewayapi.Group + "/v1")
			list.SetKind(kind + "List")
			if err := cp.Client.List(ctx, list); err != nil {
				return err
			}
			for i := range list.Items {
				item := &list.Items[i]
				key := kind + " " + item.GetNamespace() + "/" + item.GetName()
				fmt.Fprintf(&nextVersions, "%s=%s;", key, item.GetResourceVersion())
				st := readStatus(item)
				next[key] = st
				gateway := item.GetNamespace() + "/" + item.GetName()
				if kind == gatewayapi.KindListenerSet {
					ns, _, _ := unstructured.NestedString(item.Object, "spec", "parentRef", "namespace")
					name, _, _ := unstructured.NestedString(item.Object, "spec", "parentRef", "name")
					gateway = cmpOr(ns, item.GetNamespace()) + "/" + name
				}
				if classOf[gateway] != gatewayapi.IstioGatewayClass {
					continue
				}
				if !st.current(item) {
					missing = append(missing, key)
				}
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("no current status yet on %s", strings.Join(missing, ", "))
		}
		if nextVersions.String() != versions {
			versions, stableSince, out = nextVersions.String(), time.Now(), next
		}
		if time.Since(stableSince) < 2*time.Second {
			return fmt.Errorf("the status changed %s ago", time.Since(stableSince).Round(time.Millisecond))
		}
		return nil
	})
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// readStatus reads the conditions istiod wrote on item.
func readStatus(item *unstructured.Unstructured) istiodStatus {
	st := istiodStatus{own: conditionSet{}, listeners: map[string]conditionSet{}}
	own, _, _ := unstructured.NestedSlice(item.Object, "status", "conditions")
	for _, c := range conditionsOf(own) {
		if c.Type == "Accepted" && c.Status == "False" && c.Reason == "NotAllowed" {
			st.own["Accepted"] = verdict{status: "False", reasons: []string{"NotAllowed"}}
		}
	}
	listeners, _, _ := unstructured.NestedSlice(item.Object, "status", "listeners")
	for _, l := range listeners {
		m, _ := l.(map[string]any)
		name, _ := m["name"].(string)
		conds, _ := m["conditions"].([]any)
		set := conditionSet{}
		for _, c := range conditionsOf(conds) {
			if slices.Contains(listenerConditions, c.Type) {
				set[c.Type] = verdict{status: c.Status, reasons: []string{c.Reason}}
			}
		}
		st.listeners[name] = set
	}
	return st
}

type statusCondition struct {
	Type, Status, Reason string
	ObservedGeneration   int64
}

func conditionsOf(list []any) []statusCondition {
	var out []statusCondition
	for _, c := range list {
		m, _ := c.(map[string]any)
		sc := statusCondition{}
		sc.Type, _ = m["type"].(string)
		sc.Status, _ = m["status"].(string)
		sc.Reason, _ = m["reason"].(string)
		sc.ObservedGeneration, _ = m["observedGeneration"].(int64)
		out = append(out, sc)
	}
	return out
}

// current reports whether istiod wrote the status of item's generation:
// its own conditions, and either every listener's conditions or (a
// ListenerSet it does not admit) its own Accepted=False.
func (st istiodStatus) current(item *unstructured.Unstructured) bool {
	own, _, _ := unstructured.NestedSlice(item.Object, "status", "conditions")
	fresh := false
	for _, c := range conditionsOf(own) {
		if c.Type == "Accepted" && c.ObservedGeneration == item.GetGeneration() {
			fresh = true
		}
	}
	if !fresh {
		return false
	}
	if _, notAllowed := st.own["Accepted"]; notAllowed {
		return true
	}
	listeners, _, _ := unstructured.NestedSlice(item.Object, "spec", "listeners")
	return len(st.listeners) == len(listeners)
}

// listenerNames are obj's listener names in order.
func listenerNames(t *testing.T, obj *unstructured.Unstructured) []string {
	t.Helper()
	listeners, _, err := unstructured.NestedSlice(obj.Object, "spec", "listeners")
	require.NoError(t, err)
	var out []string
	for _, l := range listeners {
		m, _ := l.(map[string]any)
		name, _ := m["name"].(string)
		out = append(out, name)
	}
	return out
}

// meshcertConditions reads the conditions meshcert's findings say istiod
// sets, by "Kind namespace/name index" for a listener and "Kind
// namespace/name " for the object itself.
func meshcertConditions(findings []meshcertFinding) map[string]conditionSet {
	out := map[string]conditionSet{}
	for _, f := range findings {
		key := f.Object.Kind + " " + f.Object.Namespace + "/" + f.Object.Name + " "
		if m := listenerField.FindStringSubmatch(f.Field); m != nil {
			key += m[1]
		}
		for _, m := range conditionPhrase.FindAllStringSubmatch(f.Message, -1) {
			if out[key] == nil {
				out[key] = conditionSet{}
			}
			v := out[key][m[1]]
			if v.status != "" && v.status != m[2] {
				// Two findings on one listener that contradict each
				// other: the comparison fails on it.
				v.status = "contradictory"
			} else {
				v.status = m[2]
			}
			if !slices.Contains(v.reasons, m[3]) {
				v.reasons = append(v.reasons, m[3])
			}
			out[key][m[1]] = v
		}
	}
	return out
}
