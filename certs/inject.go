package certs

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
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

// Field is the field path the injection sets, as findings spell it:
// spec.servers[N].tls.<key>. It is built on demand: the planner runs on
// every admission and most callers never print it.
func (i Injection) Field() string {
	return i.path().String()
}

// path is where the injection writes, spelled once: the dotted field, the
// JSON pointer of the webhook's patch and the walk Mutated makes are all
// derived from it, so they cannot disagree.
func (i Injection) path() fieldPath {
	return fieldPath{{key: "spec"}, {key: "servers"}, {index: i.Server}, {key: "tls"}, {key: i.Key()}}
}

// fieldPath is a path into a JSON document. It ends with an object key.
type fieldPath []pathStep

// pathStep is one step of a fieldPath: an object key or, when key is
// empty, a list index. Keys are API field names, which hold no '/' or '~'
// for a JSON pointer to escape.
type pathStep struct {
	key   string
	index int
}

// String spells p as Kubernetes field paths do: spec.servers[0].tls.key.
func (p fieldPath) String() string {
	b := make([]byte, 0, 64)
	for _, s := range p {
		if s.key == "" {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(s.index), 10)
			b = append(b, ']')
			continue
		}
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, s.key...)
	}
	return string(b)
}

// Pointer spells p as a JSON pointer (RFC 6901), as a JSON patch names the
// field: /spec/servers/0/tls/key.
func (p fieldPath) Pointer() string {
	b := make([]byte, 0, 64)
	for _, s := range p {
		b = s.appendPointer(b)
	}
	return string(b)
}

func (s pathStep) appendPointer(b []byte) []byte {
	b = append(b, '/')
	if s.key == "" {
		return strconv.AppendInt(b, int64(s.index), 10)
	}
	return append(b, s.key...)
}

// parent walks doc to the object that holds p's last key, and errors when
// a step is missing or not of the kind the path needs: the object changed
// shape since it was parsed. With copied not nil, every object and list on
// the way is replaced by its shallow copy (see own), so writing to the
// parent never changes what doc shares with the input, while everything
// off the path stays shared rather than deep-copied (a deep copy was a
// sixth of the planner's time).
func (p fieldPath) parent(doc map[string]any, copied map[string]any) (map[string]any, error) {
	var cur any = doc
	var buf [64]byte
	pointer := buf[:0] // cur's JSON pointer, the key of its copy in copied
	for i, s := range p[:len(p)-1] {
		if copied != nil {
			pointer = s.appendPointer(pointer)
		}
		if s.key == "" {
			list, ok := cur.([]any)
			if !ok || s.index >= len(list) {
				return nil, fmt.Errorf("%s not found", p[:i+1])
			}
			if c, ok := own(list[s.index], pointer, copied); ok {
				list[s.index] = c
			}
			cur = list[s.index]
			continue
		}
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s is not an object", p[:i])
		}
		if c, ok := own(obj[s.key], pointer, copied); ok {
			obj[s.key] = c
		}
		cur = obj[s.key]
	}
	obj, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is not an object", p[:len(p)-1])
	}
	return obj, nil
}

// own returns the shallow copy of the object or list v found at pointer,
// made once per document: copied holds those made so far by JSON pointer,
// so what every path goes through (spec, spec.servers) is copied once, not
// once per injection. false when copied is nil or v is neither an object
// nor a list.
func own(v any, pointer []byte, copied map[string]any) (any, bool) {
	if copied == nil {
		return nil, false
	}
	if c, ok := copied[string(pointer)]; ok {
		return c, true
	}
	var c any
	switch v := v.(type) {
	case map[string]any:
		c = maps.Clone(v)
	case []any:
		c = slices.Clone(v)
	default:
		return nil, false
	}
	copied[string(pointer)] = c
	return c, true
}

// injectCredentials gives every eligible server without a credential a
// derived credentialName, recorded in credentials too. Existing credentials
// are never changed, which also makes injecting twice the same as injecting
// once.
func injectCredentials(gw *Gateway, credentials [][]string) []Injection {
	var injections []Injection
	_, keys := derivedKeys(gw.Servers)
	var injected []string // one backing array for every injected name
	for i, srv := range gw.Servers {
		if !eligible(srv) || len(credentials[i]) > 0 {
			continue
		}
		name := CredentialName(gw.Namespace, gw.Name, keys[i])
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

// derivedKeys are, for each server, its ServerKey (base) and the key its
// injected credentialName is derived from (derived): the ServerKey, with
// the server's position among those sharing it added when several do (say
// two "https" ports without names), so their credentials differ. The one
// spelling of that rule for injection, MC8006's suggestion and ownership.
func derivedKeys(servers []Server) (base, derived []string) {
	base = make([]string, len(servers))
	counts := make(map[string]int, len(servers))
	for i, srv := range servers {
		base[i] = ServerKey(srv)
		counts[base[i]]++
	}
	derived = base
	var positions map[string]int
	for i, key := range base {
		if counts[key] < 2 {
			continue
		}
		if positions == nil {
			derived = slices.Clone(base)
			positions = make(map[string]int, len(counts))
		}
		positions[key]++
		derived[i] = key + "-" + strconv.Itoa(positions[key])
	}
	return base, derived
}
