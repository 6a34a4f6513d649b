package main

import (
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The expectations below are Istio's behaviour as DESIGN.md §2 and §10
// describe it; if an Istio upgrade changes one, the design is what to revisit.

func TestValidate(t *testing.T) {
	verdicts := runJSON[verdict](t, nil, "validate", filepath.Join("testdata", "validate.yaml"))
	byName := map[string]verdict{}
	for _, v := range verdicts {
		byName[v.Name] = v
	}

	for _, tc := range []struct {
		name    string
		index   int
		valid   bool
		err     string // a substring of one of the errors
		warning string // a substring of one of the warnings
	}{
		{name: "https-without-tls", index: 0, err: "server must have TLS settings for HTTPS/TLS protocols"},
		{name: "tls-on-http", index: 1, err: "server cannot have TLS settings for plain text HTTP ports"},
		{name: "duplicate-port-names", index: 2, err: "port names in servers must be unique"},
		// index 3 is a ConfigMap: skipped, but counted.
		{name: "bind-ip", index: 4, valid: true},
		// List items count one each.
		{name: "simple-credential", index: 5, valid: true},
		{name: "passthrough-with-credential", index: 6, valid: true, warning: "PASSTHROUGH mode does not use certificates"},
		{name: "unknown-field", index: 7, err: `unknown field "credentialNam"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := byName[tc.name]
			if !ok {
				t.Fatalf("no verdict for %s in %+v", tc.name, verdicts)
			}
			if v.Index != tc.index || v.Valid != tc.valid {
				t.Errorf("got index %d valid %v, want index %d valid %v (errors %q)", v.Index, v.Valid, tc.index, tc.valid, v.Errors)
			}
			if tc.err != "" && !containsSubstring(v.Errors, tc.err) {
				t.Errorf("errors %q lack %q", v.Errors, tc.err)
			}
			if tc.warning != "" && !containsSubstring(v.Warnings, tc.warning) {
				t.Errorf("warnings %q lack %q", v.Warnings, tc.warning)
			}
		})
	}
	if got := len(verdicts); got != 7 {
		t.Errorf("got %d verdicts, want 7 (one per Gateway)", got)
	}
	if ns := byName["simple-credential"].Namespace; ns != "default" {
		t.Errorf("namespace-less Gateway got namespace %q, want default as in istioctl validate", ns)
	}
}

// ValidateGateway appends its errors into one multierror; the oracle lists them.
func TestValidateSplitsErrors(t *testing.T) {
	const gw = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: many-errors, namespace: team-a}
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*.*.example.com"]
    bind: not-an-ip
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: ["app.example.com"]
    tls: {mode: ISTIO_MUTUAL, credentialName: app-tls}
`
	verdicts := runJSON[verdict](t, strings.NewReader(gw), "validate")
	if len(verdicts) != 1 {
		t.Fatalf("got %d verdicts, want 1", len(verdicts))
	}
	v := verdicts[0]
	if v.Valid || v.File != "-" {
		t.Errorf("got valid %v file %q, want invalid from -", v.Valid, v.File)
	}
	for _, want := range []string{
		"server must have TLS settings",
		"ISTIO_MUTUAL TLS cannot have associated credentialName",
		"port names in servers must be unique",
		"not-an-ip",
	} {
		if !containsSubstring(v.Errors, want) {
			t.Errorf("errors %q lack %q", v.Errors, want)
		}
	}
}

func TestAnalyze(t *testing.T) {
	workload := filepath.Join("testdata", "analyze", "workload.yaml")
	for _, tc := range []struct {
		file  string
		flags []string
		want  []string // code resource-namespace/name, sorted
	}{
		{file: "duplicate-certificate.yaml", want: []string{"IST0138 team-a/gw-a", "IST0138 team-b/gw-b"}},
		{file: "conflicting-gateways.yaml", want: []string{"IST0145 team-a/gw-one", "IST0145 team-b/gw-two"}},
		// Istio compares host strings: a wildcard or a namespace prefix is no conflict to it.
		{file: "wildcard-overlap.yaml", want: nil},
		// The Secret is in the Gateway's namespace, not in the selected Pod's.
		{file: "missing-secret.yaml", want: []string{"IST0101 team-a/gw-missing"}},
		// istioctl analyze --use-kube=false drops Pods and Secrets from files
		// and skips the analyzers that need them: no IST0101 from it.
		{file: "missing-secret.yaml", flags: []string{"-istioctl"}, want: nil},
	} {
		t.Run(strings.Join(append(tc.flags, tc.file), " "), func(t *testing.T) {
			args := append(append([]string{"analyze"}, tc.flags...), workload, filepath.Join("testdata", "analyze", tc.file))
			var got []string
			for _, f := range runJSON[finding](t, nil, args...) {
				if f.Resource == nil || f.Resource.Kind != "Gateway" {
					t.Errorf("finding about something else than a Gateway: %+v", f)
					continue
				}
				got = append(got, f.Code+" "+f.Resource.Namespace+"/"+f.Resource.Name)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func runJSON[T any](t *testing.T, stdin io.Reader, args ...string) []T {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(args, stdin, &stdout, &stderr); err != nil {
		t.Fatalf("istio-oracle %s: %v", strings.Join(args, " "), err)
	}
	var out []T
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("failed to decode output: %v", err)
		}
		out = append(out, v)
	}
	return out
}

func containsSubstring(list []string, sub string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.Contains(s, sub) })
}

func TestValidateStreamAnswersEveryLine(t *testing.T) {
	in := strings.Join([]string{
		`{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"ok"},"spec":{"servers":[{"port":{"number":80,"name":"http","protocol":"HTTP"},"hosts":["*"]}]}}`,
		`{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"no-tls","namespace":"a"},"spec":{"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["*"]}]}}`,
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`,
		`not json`,
	}, "\n") + "\n"
	verdicts := runJSON[verdict](t, strings.NewReader(in), "validate", "-stream")
	if len(verdicts) != 4 {
		t.Fatalf("got %d verdicts for 4 lines: %+v", len(verdicts), verdicts)
	}
	if v := verdicts[0]; !v.Valid || v.Name != "ok" || v.Namespace != "default" || v.Index != 0 {
		t.Errorf("line 0: %+v, want a valid Gateway default/ok", v)
	}
	if v := verdicts[1]; v.Valid || !containsSubstring(v.Errors, "server must have TLS settings") || v.Index != 1 {
		t.Errorf("line 1: %+v, want Istio's error for HTTPS without tls", v)
	}
	if v := verdicts[2]; v.Valid || !containsSubstring(v.Errors, "not an Istio Gateway") {
		t.Errorf("line 2: %+v, want it refused as not a Gateway", v)
	}
	if v := verdicts[3]; v.Valid || !containsSubstring(v.Errors, "not a JSON object") {
		t.Errorf("line 3: %+v, want it refused as not JSON", v)
	}
}

// Istio serves an Ingress, with its default mesh config (STRICT), when its
// class annotation is "istio" or its IngressClass's controller is
// istio.io/ingress-controller, on a port-80 server for "*" of the workload
// istio=ingressgateway; nothing else.
func TestIngress(t *testing.T) {
	verdicts := runJSON[ingressVerdict](t, nil, "ingress", filepath.Join("testdata", "ingress.yaml"))
	served := map[string]ingressVerdict{}
	for _, v := range verdicts {
		served[v.Name] = v
	}
	for name, want := range map[string]bool{"a": true, "b": false, "c": true, "d": false} {
		v, ok := served[name]
		if !ok {
			t.Fatalf("no verdict for Ingress %s in %+v", name, verdicts)
		}
		if v.Served != want {
			t.Errorf("Ingress %s: served %t, want %t", name, v.Served, want)
		}
		if want && (v.Selector["istio"] != "ingressgateway" || !slices.Equal(v.Port80, []string{"*"})) {
			t.Errorf("Ingress %s: served on %v with port-80 hosts %v, want istio=ingressgateway and [*]", name, v.Selector, v.Port80)
		}
	}
}
