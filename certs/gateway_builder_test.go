package certs_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A mutation changes the base Gateway (simpleGateway) for one test case, in
// the style of gateway-api's validation tests: every case states only how its
// Gateway differs from the base.
type mutation func(t testing.TB, gw map[string]any)

// buildGateway decodes simpleGateway and applies the mutations in order.
func buildGateway(t testing.TB, mutations ...mutation) *unstructured.Unstructured {
	t.Helper()
	obj := objectFromYAML(t, simpleGateway)
	for _, m := range mutations {
		m(t, obj.Object)
	}
	return obj
}

// object returns m[key] as an object, creating it when it is missing.
func object(t testing.TB, m map[string]any, key string) map[string]any {
	t.Helper()
	if m[key] == nil {
		m[key] = map[string]any{}
	}
	obj, ok := m[key].(map[string]any)
	require.True(t, ok, "%s is %T, not an object", key, m[key])
	return obj
}

func anyList(values ...string) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
}

func withAPIVersion(v string) mutation {
	return func(_ testing.TB, gw map[string]any) { gw["apiVersion"] = v }
}

func withName(name string) mutation {
	return func(t testing.TB, gw map[string]any) { object(t, gw, "metadata")["name"] = name }
}

// withCreationTimestamp makes the Gateway one the API server stored at ts.
func withCreationTimestamp(ts string) mutation {
	return func(t testing.TB, gw map[string]any) { object(t, gw, "metadata")["creationTimestamp"] = ts }
}

func withNamespace(namespace string) mutation {
	return func(t testing.TB, gw map[string]any) { object(t, gw, "metadata")["namespace"] = namespace }
}

// withAnnotation sets one annotation, keeping the others.
func withAnnotation(key, value string) mutation {
	return func(t testing.TB, gw map[string]any) {
		object(t, object(t, gw, "metadata"), "annotations")[key] = value
	}
}

// withoutAnnotation removes one annotation; removing the last one removes
// metadata.annotations altogether, as a manifest without annotations has.
func withoutAnnotation(key string) mutation {
	return func(t testing.TB, gw map[string]any) {
		meta := object(t, gw, "metadata")
		annotations := object(t, meta, "annotations")
		require.Contains(t, annotations, key, "the base Gateway has no annotation %s to remove", key)
		delete(annotations, key)
		if len(annotations) == 0 {
			delete(meta, "annotations")
		}
	}
}

// withSelector replaces spec.selector.
func withSelector(key, value string) mutation {
	return func(t testing.TB, gw map[string]any) {
		object(t, gw, "spec")["selector"] = map[string]any{key: value}
	}
}

// withServers replaces spec.servers with the given value as is, so a case
// can also give a malformed one.
func withServers(servers any) mutation {
	return func(t testing.TB, gw map[string]any) { object(t, gw, "spec")["servers"] = servers }
}

// addServer appends a server to spec.servers.
func addServer(s map[string]any) mutation {
	return func(t testing.TB, gw map[string]any) {
		spec := object(t, gw, "spec")
		list, ok := spec["servers"].([]any)
		require.True(t, ok, "spec.servers is %T, not a list", spec["servers"])
		spec["servers"] = append(list, s)
	}
}

// server changes spec.servers[i] in place.
func server(i int, change func(s map[string]any)) mutation {
	return func(t testing.TB, gw map[string]any) {
		list, ok := object(t, gw, "spec")["servers"].([]any)
		require.True(t, ok, "spec.servers is not a list")
		require.Less(t, i, len(list), "no spec.servers[%d]", i)
		s, ok := list[i].(map[string]any)
		require.True(t, ok, "spec.servers[%d] is %T, not an object", i, list[i])
		change(s)
	}
}

// withBind sets spec.servers[i].bind.
func withBind(i int, bind string) mutation {
	return server(i, func(s map[string]any) { s["bind"] = bind })
}

// withServerName sets spec.servers[i].name.
func withServerName(i int, name string) mutation {
	return server(i, func(s map[string]any) { s["name"] = name })
}

// withHosts replaces spec.servers[i].hosts.
func withHosts(i int, hosts ...string) mutation {
	return server(i, func(s map[string]any) { s["hosts"] = anyList(hosts...) })
}

// withTLS sets the given fields of spec.servers[i].tls, keeping the others.
func withTLS(i int, fields map[string]any) mutation {
	return server(i, func(s map[string]any) {
		tls, _ := s["tls"].(map[string]any)
		if tls == nil {
			tls = map[string]any{}
			s["tls"] = tls
		}
		for k, v := range fields {
			tls[k] = v
		}
	})
}

// withCredential sets spec.servers[i].tls.credentialName.
func withCredential(i int, name string) mutation {
	return withTLS(i, map[string]any{"credentialName": name})
}

// newServer builds a server for withServers and addServer; a nil tls leaves
// the tls block out.
func newServer(number int64, portName, protocol string, hosts []string, tls map[string]any) map[string]any {
	s := map[string]any{
		"port":  map[string]any{"number": number, "name": portName, "protocol": protocol},
		"hosts": anyList(hosts...),
	}
	if tls != nil {
		s["tls"] = tls
	}
	return s
}
