// Package hostile builds the corpus of hostile input meshcert must answer
// without crashing: malformed, mislabelled, huge, deep and inconsistent
// objects and admission requests. The webhook tests send every case
// through the admission handlers over HTTP, the CLI tests through
// `meshcert check`; docs/security.md lists the cases and what each gets.
// It is generated, not committed, because some cases are megabytes.
package hostile

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Garbage says what a case is, for what `meshcert check` may answer (the
// webhooks answer every case; the API server itself refuses objects over
// etcd's 1.5 MiB before storing them).
type Garbage int

const (
	// Unreadable input: check must exit 2, naming the file.
	Unreadable Garbage = iota
	// Invalid objects: check must report at least one error (exit 1).
	Invalid
	// Valid but extreme objects (huge, many servers): any verdict, as long
	// as it comes.
	Extreme
)

// Case is one hostile object.
type Case struct {
	// Name says what it is, as a sentence.
	Name string
	// Object is the object's bytes as a client would send them: JSON, or
	// bytes that are not.
	Object []byte
	// Kind is the kind the admission request claims (Gateway unless set).
	Kind    string
	Garbage Garbage
}

const gatewayAPIVersion = "networking.istio.io/v1"

func gateway(name string, annotations map[string]string, servers []map[string]any) map[string]any {
	meta := map[string]any{"name": name, "namespace": "team-a"}
	if annotations != nil {
		meta["annotations"] = annotations
	}
	return map[string]any{
		"apiVersion": gatewayAPIVersion,
		"kind":       "Gateway",
		"metadata":   meta,
		"spec":       map[string]any{"selector": map[string]any{"istio": "ingressgateway"}, "servers": servers},
	}
}

func server(i int, hosts []string) map[string]any {
	return map[string]any{
		"port":  map[string]any{"number": 443, "name": fmt.Sprintf("https-%d", i), "protocol": "HTTPS"},
		"hosts": hosts,
		"tls":   map[string]any{"mode": "SIMPLE"},
	}
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings and numbers; cannot fail
	}
	return data
}

var managed = map[string]string{"cert-manager.io/cluster-issuer": "ca"}

// Objects returns the hostile objects.
func Objects() []Case {
	manyServers := make([]map[string]any, 10000)
	for i := range manyServers {
		manyServers[i] = server(i, []string{fmt.Sprintf("h%d.example.com", i)})
	}
	manyHosts := make([]string, 100000)
	for i := range manyHosts {
		manyHosts[i] = fmt.Sprintf("host-%d.example.com", i)
	}
	altNames := make([]string, 100000)
	for i := range altNames {
		altNames[i] = fmt.Sprintf("alt-%d.example.com", i)
	}
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	return []Case{
		{Name: "malformed JSON", Object: []byte(`{"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": `), Garbage: Unreadable},
		{Name: "not JSON at all", Object: []byte("\x00\x01\x02 this is not an object \xff"), Garbage: Unreadable},
		{Name: "a JSON array instead of an object", Object: []byte(`[1, 2, 3]`), Garbage: Unreadable},
		{Name: "a ConfigMap sent as a Gateway", Object: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"team-a"},"data":{"a":"b"}}`), Garbage: Extreme},
		{Name: "a Gateway of an API version that does not exist", Object: mustJSON(func() map[string]any {
			g := gateway("v9", managed, []map[string]any{server(0, []string{"a.example.com"})})
			g["apiVersion"] = "networking.istio.io/v9"
			return g
		}()), Garbage: Extreme},
		{Name: "a 3 MiB annotation", Object: mustJSON(gateway("big", map[string]string{
			"cert-manager.io/cluster-issuer": "ca", "example.com/blob": strings.Repeat("x", 3<<20),
		}, []map[string]any{server(0, []string{"a.example.com"})})), Garbage: Invalid},
		{Name: "10,000 servers", Object: mustJSON(gateway("servers", managed, manyServers)), Garbage: Extreme},
		{Name: "100,000 hosts on one server", Object: mustJSON(gateway("hosts", managed, []map[string]any{server(0, manyHosts)})), Garbage: Invalid},
		{Name: "100,000 alt-names in an annotation", Object: mustJSON(gateway("alts", map[string]string{
			"cert-manager.io/cluster-issuer": "ca", "cert-manager.io/alt-names": strings.Join(altNames, ","),
		}, []map[string]any{server(0, []string{"a.example.com"})})), Garbage: Invalid},
		{Name: "invalid UTF-8 in a host", Object: []byte(`{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"utf8","namespace":"team-a","annotations":{"cert-manager.io/cluster-issuer":"ca"}},` +
			"\"spec\":{\"selector\":{\"istio\":\"ingressgateway\"},\"servers\":[{\"port\":{\"number\":443,\"name\":\"https\",\"protocol\":\"HTTPS\"},\"hosts\":[\"caf\xc3\x28.example.com\"],\"tls\":{\"mode\":\"SIMPLE\"}}]}}"), Garbage: Invalid},
		{Name: "JSON nested 100,000 deep", Object: []byte(`{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"deep","namespace":"team-a"},"spec":{"servers":` + deep + `}}`), Garbage: Unreadable},
		{Name: "numbers out of range", Object: []byte(`{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"num","namespace":"team-a","annotations":{"cert-manager.io/cluster-issuer":"ca"}},` +
			`"spec":{"servers":[{"port":{"number":1e400,"name":"https","protocol":"HTTPS"},"hosts":["a.example.com"],"tls":{"mode":"SIMPLE"}},` +
			`{"port":{"number":-99999999999999999999,"name":"b","protocol":"HTTPS"},"hosts":["b.example.com"],"tls":{"mode":"SIMPLE"}}]}}`), Garbage: Unreadable},
		{Name: "every field of the wrong type", Object: []byte(`{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"types","namespace":"team-a","annotations":{"cert-manager.io/cluster-issuer":"ca"}},` +
			`"spec":{"selector":"istio","servers":[{"port":"443","hosts":"a.example.com","tls":["SIMPLE"]},7,null]}}`), Garbage: Invalid},
		{Name: "an IstioOperator with a hostile mesh config", Kind: "IstioOperator", Object: []byte(`{"apiVersion":"install.istio.io/v1alpha1","kind":"IstioOperator","metadata":{"name":"io","namespace":"istio-system",` +
			`"annotations":{"meshcert.io/peer-roots":"` + strings.Repeat("a/b:c,", 20000) + `","cert-manager.io/cluster-issuer":"ca"}},` +
			`"spec":{"meshConfig":{"caCertificates":[{"pem":"` + strings.Repeat("-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n", 1000) + `"}],"defaultConfig":{"proxyMetadata":{"a":1}}}}}`), Garbage: Invalid},
		{Name: "a Certificate with 100,000 dnsNames", Kind: "Certificate", Object: mustJSON(map[string]any{
			"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
			"metadata": map[string]any{"name": "c", "namespace": "istio-system"},
			"spec":     map[string]any{"secretName": "c", "dnsNames": manyHosts, "issuerRef": map[string]any{"name": "ca", "kind": "ClusterIssuer"}},
		}), Garbage: Invalid},
	}
}

// Request is one hostile admission request body.
type Request struct {
	// Name says what it is, as a sentence.
	Name string
	// Body is the HTTP body; Kind the kind it claims.
	Body []byte
	Kind string
	// UID is what an answer must echo ("" when the request has none).
	UID string
}

// review wraps object (and oldObject, if set) into an AdmissionReview.
func review(uid, kind string, object, oldObject []byte, operation string) []byte {
	group, version := "networking.istio.io", "v1"
	switch kind {
	case "IstioOperator":
		group, version = "install.istio.io", "v1alpha1"
	case "Certificate":
		group, version = "cert-manager.io", "v1"
	}
	req := map[string]any{
		"uid":       uid,
		"kind":      map[string]any{"group": group, "version": version, "kind": kind},
		"resource":  map[string]any{"group": group, "version": version, "resource": strings.ToLower(kind) + "s"},
		"namespace": "team-a", "name": "web", "operation": operation,
		"userInfo": map[string]any{"username": "attacker"},
	}
	// The object goes in raw: it may not be valid JSON, which is the point.
	fields := mustJSON(req)
	request := string(fields[:len(fields)-1]) + `,"object":` + string(orNull(object)) + oldPart(oldObject) + "}"
	return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":` + request + "}")
}

func orNull(b []byte) []byte {
	if b == nil {
		return []byte("null")
	}
	return b
}

func oldPart(old []byte) string {
	if old == nil {
		return ""
	}
	return `,"oldObject":` + string(old)
}

// Requests returns every object case as a CREATE request, plus cases that
// are hostile as requests: no UID, no object, an oldObject that does not
// match, an AdmissionReview that is not one.
func Requests() []Request {
	var out []Request
	for i, c := range Objects() {
		kind := c.Kind
		if kind == "" {
			kind = "Gateway"
		}
		uid := fmt.Sprintf("uid-%d", i)
		r := Request{Name: c.Name, Body: review(uid, kind, c.Object, nil, "CREATE"), Kind: kind, UID: uid}
		if !json.Valid(c.Object) {
			// The whole review is then unreadable: no UID to echo.
			r.UID = ""
		}
		out = append(out, r)
	}
	good := mustJSON(gateway("web", managed, []map[string]any{server(0, []string{"a.example.com"})}))
	other := mustJSON(map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "stolen", "namespace": "kube-system"}})
	out = append(out,
		Request{Name: "a request without a UID", Body: review("", "Gateway", good, nil, "CREATE"), Kind: "Gateway"},
		Request{Name: "a request without an object", Body: review("uid-noobj", "Gateway", nil, nil, "CREATE"), Kind: "Gateway", UID: "uid-noobj"},
		Request{Name: "an UPDATE whose oldObject is another kind", Body: review("uid-old", "Gateway", good, other, "UPDATE"), Kind: "Gateway", UID: "uid-old"},
		Request{Name: "an UPDATE whose oldObject is garbage", Body: review("uid-oldgarbage", "Gateway", good, []byte(`"not an object"`), "UPDATE"), Kind: "Gateway", UID: "uid-oldgarbage"},
		Request{Name: "an AdmissionReview without a request", Body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), Kind: "Gateway"},
		Request{Name: "an AdmissionReview of an unknown version", Body: []byte(`{"apiVersion":"admission.k8s.io/v9","kind":"AdmissionReview","request":{"uid":"x"}}`), Kind: "Gateway", UID: "x"},
		Request{Name: "a body that is not JSON", Body: []byte("GET / HTTP/1.1\r\n\r\n"), Kind: "Gateway"},
	)
	return out
}
