package certs

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Injection is one field of a server's tls settings the injector sets: a
// credentialName, or a caCertCredentialName (exactly one is set).
type Injection struct {
	// Server is the index of the server in spec.servers.
	Server               int
	CredentialName       string
	CACertCredentialName string
}

// Key is the name of the tls field the injection sets.
func (i Injection) Key() string {
	if i.CACertCredentialName != "" {
		return "caCertCredentialName"
	}
	return "credentialName"
}

// Value is the value the injection sets.
func (i Injection) Value() string {
	if i.CACertCredentialName != "" {
		return i.CACertCredentialName
	}
	return i.CredentialName
}

// Field is the field path the injection sets. It is built on demand: the
// planner runs on every admission and most callers never print it.
func (i Injection) Field() string {
	return "spec.servers[" + strconv.Itoa(i.Server) + "].tls." + i.Key()
}

// injectCredentials gives every eligible server without a credential a
// derived credentialName, recorded in credentials too. Existing credentials
// are never changed, which also makes injecting twice the same as injecting
// once.
func injectCredentials(gw *Gateway, credentials [][]string) []Injection {
	var injections []Injection
	keys := make([]string, len(gw.Servers))
	for i, srv := range gw.Servers {
		keys[i] = ServerKey(srv)
	}
	var counts map[string]int // only for many servers; a scan is cheaper for a few
	if len(keys) > 32 {
		counts = make(map[string]int, len(keys))
		for _, k := range keys {
			counts[k]++
		}
	}
	var injected []string // one backing array for every injected name
	for i, srv := range gw.Servers {
		if !eligible(srv) || len(credentials[i]) > 0 {
			continue
		}
		key := derivedKey(keys, counts, i)
		name := CredentialName(gw.Namespace, gw.Name, key)
		if injected == nil {
			injected = make([]string, len(gw.Servers))
		}
		injected[i] = name
		credentials[i] = injected[i : i+1 : i+1]
		injections = append(injections, Injection{
			Server:         srv.Index,
			CredentialName: name,
		})
	}
	return injections
}

// derivedKey is the key a server's injected credentialName is derived from:
// its ServerKey, with its position among the servers sharing that key added
// when several do (say two "https" ports without names), so their
// credentials differ. counts, when not nil, holds how many servers have
// each key.
func derivedKey(keys []string, counts map[string]int, i int) string {
	key := keys[i]
	total, position := 0, 0
	if counts != nil {
		total = counts[key]
	}
	if counts == nil || total > 1 {
		total = 0
		for j, k := range keys {
			if k == key {
				total++
				if j <= i {
					position++
				}
			}
		}
	}
	if total > 1 {
		key += "-" + strconv.Itoa(position)
	}
	return key
}

// shallowCopyServers copies obj down to its spec.servers slice. Together
// with setCredentialName copying the server and tls maps it changes, the
// input is never modified, while everything meshcert does not touch is
// shared rather than deep-copied (a deep copy was a sixth of the planner's
// time). Callers treat GatewayPlan.Mutated's result as read-only.
func shallowCopyServers(obj *unstructured.Unstructured) *unstructured.Unstructured {
	out := &unstructured.Unstructured{Object: maps.Clone(obj.Object)}
	if spec, ok := out.Object["spec"].(map[string]any); ok {
		spec = maps.Clone(spec)
		if servers, ok := spec["servers"].([]any); ok {
			spec["servers"] = slices.Clone(servers)
		}
		out.Object["spec"] = spec
	}
	return out
}

// setTLSField sets spec.servers[index].tls.<key> in a copy made by
// shallowCopyServers, copying the server and its tls map first.
func setTLSField(obj *unstructured.Unstructured, index int, key, value string) error {
	spec, ok := obj.Object["spec"].(map[string]any)
	if !ok {
		return errors.New("spec is not an object")
	}
	servers, ok := spec["servers"].([]any)
	if !ok || index >= len(servers) {
		return fmt.Errorf("spec.servers[%d] not found", index)
	}
	srv, ok := servers[index].(map[string]any)
	if !ok {
		return fmt.Errorf("spec.servers[%d] is not an object", index)
	}
	tls, ok := srv["tls"].(map[string]any)
	if !ok {
		return fmt.Errorf("spec.servers[%d].tls is not an object", index)
	}
	srv = maps.Clone(srv)
	tls = maps.Clone(tls)
	tls[key] = value
	srv["tls"] = tls
	servers[index] = srv
	return nil
}
