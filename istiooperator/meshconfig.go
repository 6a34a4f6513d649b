package istiooperator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/internal/jsonvalue"
	"github.com/meshcert/meshcert/internal/protonames"
)

// certificateDataMessage is the MeshConfig message of caCertificates entries.
const certificateDataMessage = "istio.mesh.v1alpha1.MeshConfig.CertificateData"

// checker collects the findings of one IstioOperator. Every one is an
// error, because each makes istioctl reject the file or istiod misbehave.
type checker struct {
	*finding.Builder
	// ignored are the paths of meshConfig fields Istio never reads (see
	// ignoredProtoNames); what the walk finds below them is not said to be
	// kept.
	ignored []string
}

// ignoredProtoNames are top-level meshConfig fields whose proto name Istio
// reads nowhere: istioctl's chart writes the JSON name itself (trustDomain
// cluster.local, rootNamespace, enablePrometheusMerge), which the decoder
// then prefers, and istiod takes defaultConfig and defaultProviders only
// under their JSON names (mesh.ApplyMeshConfig resets what the decoder
// read). TestMeshConfigAgreesWithIstiod shows each with the renderer.
var ignoredProtoNames = map[string]string{
	"trust_domain":            "istioctl's chart writes trustDomain itself, which Istio reads instead",
	"root_namespace":          "istioctl's chart writes rootNamespace itself, which Istio reads instead",
	"enable_prometheus_merge": "istioctl's chart writes enablePrometheusMerge itself, which Istio reads instead",
	"default_config":          "istiod reads defaultConfig only under its JSON name",
	"default_providers":       "istiod reads defaultProviders only under its JSON name",
}

func (c *checker) checkMeshConfig(spec map[string]any, path *field.Path) {
	raw, ok := spec["meshConfig"]
	if !ok || raw == nil {
		return
	}
	before := c.errors()
	md := (&meshv1alpha1.MeshConfig{}).ProtoReflect().Descriptor()
	written, _ := raw.(map[string]any)
	for _, key := range sortedKeys(written) {
		why, ignored := ignoredProtoNames[key]
		if !ignored {
			continue
		}
		c.ignored = append(c.ignored, path.Child(key).String())
		jsonName := md.Fields().ByName(protoreflect.Name(key)).JSONName()
		if _, both := written[jsonName]; both {
			// The walk says the JSON name wins.
			continue
		}
		c.Warningf(finding.CodeMeshConfigSetTwice, path.Child(key),
			"%q is the proto name of %q, and Istio ignores the value written under it: %s; write %q", key, jsonName, why, jsonName)
	}
	normalized := c.walkMessage(md, raw, path)
	if c.errors() > before {
		return
	}
	if mesh, ok := normalized.(map[string]any); ok {
		c.checkTrustDomains(mesh, path)
	}
	// The walk should catch everything, but protojson is the reference
	// decoder for these types: running it on the normalized copy catches what
	// the walk does not model, without the walk's false positives (protojson
	// rejects durations such as "1m0s" that Istio's jsonpb accepts, so the
	// walk rewrote them).
	data, err := json.Marshal(normalized)
	if err != nil {
		// Only values no YAML or JSON document can hold (NaN inside a Struct
		// built in memory) fail here; there is nothing for the user to fix.
		return
	}
	if err := protojson.Unmarshal(data, &meshv1alpha1.MeshConfig{}); err != nil {
		c.Errorf(finding.CodeInvalidMeshConfig, path, "meshConfig does not decode as Istio's MeshConfig (%v); fix the value it names so istioctl and istiod accept it", err)
	}
}

// walkMessage checks v against message md the way Istio's jsonpb decoder
// reads it (JSON or proto field names, null means unset) and returns a copy
// protojson can decode.
func (c *checker) walkMessage(md protoreflect.MessageDescriptor, v any, path *field.Path) any {
	switch md.FullName() {
	case "google.protobuf.Duration":
		return c.walkDuration(v, path)
	case "google.protobuf.Timestamp":
		return c.walkTimestamp(v, path)
	case "google.protobuf.Value":
		// Any JSON value is a Value.
		return v
	case "google.protobuf.Struct":
		if _, ok := v.(map[string]any); !ok {
			c.wrongType(path, "a map", v)
			return nil
		}
		return v
	case "google.protobuf.ListValue":
		if _, ok := v.([]any); !ok {
			c.wrongType(path, "a list", v)
			return nil
		}
		return v
	case "google.protobuf.FieldMask":
		if _, ok := v.(string); !ok {
			c.wrongType(path, "a string", v)
			return nil
		}
		return v
	case "google.protobuf.Any":
		return c.walkAny(v, path)
	case "google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue",
		"google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.Int64Value", "google.protobuf.UInt64Value",
		"google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		// Wrappers are written as the plain scalar they wrap.
		return c.walkScalar(md.Fields().ByNumber(1), v, path)
	}

	m, ok := v.(map[string]any)
	if !ok {
		c.wrongType(path, "a map", v)
		return nil
	}
	out := make(map[string]any, len(m))
	fields := md.Fields()
	// Istio's decoder (github.com/golang/protobuf/jsonpb) looks each field
	// up by its proto name and then by its JSON name, so the JSON name wins
	// when both are written; and it sets fields in declaration order, each
	// clearing the other members of its oneof, so of several alternatives
	// the one declared last wins. Neither is an error there.
	keys := map[protoreflect.FieldNumber]string{}
	for _, key := range sortedKeys(m) {
		fd := fields.ByJSONName(key)
		if fd == nil {
			fd = fields.ByName(protoreflect.Name(key))
		}
		if fd == nil {
			c.Errorf(finding.CodeInvalidMeshConfig, path.Child(key), "%s", unknownFieldMessage(md, key))
			continue
		}
		if other, dup := keys[fd.Number()]; dup {
			kept, ignored := other, key
			if key == fd.JSONName() {
				kept, ignored = key, other
			}
			c.Warningf(finding.CodeMeshConfigSetTwice, path.Child(ignored),
				"%q and %q are the same field, and Istio reads %q and ignores %q: keep only %q", kept, ignored, kept, ignored, fd.JSONName())
			if kept == other {
				continue
			}
		}
		keys[fd.Number()] = key
	}
	set := map[protoreflect.FullName][]protoreflect.FieldDescriptor{}
	for i := range fields.Len() {
		fd := fields.Get(i)
		key, ok := keys[fd.Number()]
		if !ok {
			continue
		}
		val := m[key]
		if val == nil && !isNullable(fd) {
			// Istio's decoder treats null as unset.
			continue
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			set[od.FullName()] = append(set[od.FullName()], fd)
		}
		if norm := c.walkField(fd, val, path.Child(key)); norm != nil || val == nil {
			out[fd.JSONName()] = norm
		}
	}
	for i := range md.Oneofs().Len() {
		od := md.Oneofs().Get(i)
		members := set[od.FullName()]
		if len(members) < 2 {
			continue
		}
		kept := members[len(members)-1]
		var ignored []string
		for _, fd := range members[:len(members)-1] {
			ignored = append(ignored, keys[fd.Number()])
			delete(out, fd.JSONName())
		}
		if c.underIgnored(path) {
			// Istio reads none of them.
			continue
		}
		c.Warningf(finding.CodeMeshConfigSetTwice, path.Child(keys[kept.Number()]),
			"%s are alternatives (%s), and Istio keeps %q and ignores %s: set only the one you mean",
			quoteJoin(append(ignored, keys[kept.Number()])), oneofNames(od), keys[kept.Number()], quoteJoin(ignored))
	}
	return out
}

// underIgnored reports whether path lies in a field Istio never reads.
func (c *checker) underIgnored(path *field.Path) bool {
	p := path.String()
	for _, ignored := range c.ignored {
		if p == ignored || strings.HasPrefix(p, ignored+".") || strings.HasPrefix(p, ignored+"[") {
			return true
		}
	}
	return false
}

// quoteJoin quotes each name and joins them with commas and "and".
func quoteJoin(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = strconv.Quote(n)
	}
	if len(quoted) == 1 {
		return quoted[0]
	}
	return strings.Join(quoted[:len(quoted)-1], ", ") + " and " + quoted[len(quoted)-1]
}

// errors counts the error findings so far; warnings do not stop the
// protojson cross-check.
func (c *checker) errors() int {
	n := 0
	for _, f := range c.Findings() {
		if f.Severity == finding.SeverityError {
			n++
		}
	}
	return n
}

// checkTrustDomains applies istiod's trust domain rule
// (pkg/config/validation/agent.ValidateTrustDomain): dot-separated DNS
// labels as Istio reads them (either case), a trailing dot allowed, never
// empty. istiod refuses the whole mesh
// config when trustDomain or an alias breaks it.
func (c *checker) checkTrustDomains(mesh map[string]any, path *field.Path) {
	// istioctl's own validation decodes meshConfig as written, under either
	// name, so a bad trust_domain stops `istioctl install` even though the
	// chart's trustDomain would win in istiod.
	if td, ok := mesh["trustDomain"].(string); ok {
		if msg := invalidTrustDomain(td); msg != "" {
			c.Errorf(finding.CodeInvalidMeshConfig, path.Child("trustDomain"),
				"trust domain %q %s, and Istio refuses the mesh config (istioctl's validation and istiod's loader both check it); use a DNS name such as cluster.local", td, msg)
		}
	}
	aliases, _ := mesh["trustDomainAliases"].([]any)
	for i, a := range aliases {
		td, _ := a.(string)
		if msg := invalidTrustDomain(td); msg != "" {
			c.Errorf(finding.CodeInvalidMeshConfig, path.Child("trustDomainAliases").Index(i),
				"trust domain alias %q %s, and Istio refuses the mesh config (istioctl's validation and istiod's loader both check it); use a DNS name or remove it", td, msg)
		}
	}
}

// invalidTrustDomain says what is wrong with a trust domain, or "".
func invalidTrustDomain(td string) string {
	if td == "" {
		return "is empty"
	}
	labels := strings.Split(td, ".")
	for i, label := range labels {
		if i == len(labels)-1 && label == "" {
			return ""
		}
		if !certs.IsIstioLabel(label) {
			return fmt.Sprintf("has the label %q, which is not a DNS label (letters, digits and '-', a letter or digit at each end, at most 63)", label)
		}
	}
	return ""
}

func (c *checker) walkField(fd protoreflect.FieldDescriptor, v any, path *field.Path) any {
	switch {
	case fd.IsMap():
		m, ok := v.(map[string]any)
		if !ok {
			c.wrongType(path, "a map", v)
			return nil
		}
		out := make(map[string]any, len(m))
		for _, key := range sortedKeys(m) {
			keyPath := path.Key(key)
			if err := checkMapKey(fd.MapKey(), key); err != nil {
				c.Errorf(finding.CodeInvalidMeshConfig, keyPath, "map key %q is invalid: %v", key, err)
				continue
			}
			if m[key] == nil {
				// jsonpb decodes a null map value as the zero value; protojson
				// rejects it, so the copy leaves it out.
				continue
			}
			if norm := c.walkSingular(fd.MapValue(), m[key], keyPath); norm != nil {
				out[key] = norm
			}
		}
		return out
	case fd.IsList():
		l, ok := v.([]any)
		if !ok {
			c.wrongType(path, "a list", v)
			return nil
		}
		out := make([]any, 0, len(l))
		for i, el := range l {
			if el == nil {
				// As for map values: jsonpb reads null as the zero value.
				continue
			}
			if norm := c.walkSingular(fd, el, path.Index(i)); norm != nil {
				out = append(out, norm)
			}
		}
		return out
	default:
		return c.walkSingular(fd, v, path)
	}
}

func (c *checker) walkSingular(fd protoreflect.FieldDescriptor, v any, path *field.Path) any {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		return c.walkMessage(fd.Message(), v, path)
	}
	return c.walkScalar(fd, v, path)
}

// walkScalar checks a non-message value. It returns nil when the value is
// wrong (after adding a finding) or is itself null.
func (c *checker) walkScalar(fd protoreflect.FieldDescriptor, v any, path *field.Path) any {
	if v == nil {
		return nil
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		if _, ok := v.(bool); !ok {
			c.wrongType(path, "true or false (unquoted)", v)
			return nil
		}
		return v
	case protoreflect.StringKind:
		if _, ok := v.(string); !ok {
			c.wrongType(path, "a string (quote it)", v)
			return nil
		}
		return v
	case protoreflect.BytesKind:
		s, ok := v.(string)
		if !ok {
			c.wrongType(path, "a base64 string", v)
			return nil
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			c.Errorf(finding.CodeInvalidMeshConfig, path, "must be base64 data: %v; encode the bytes with base64", err)
			return nil
		}
		return v
	case protoreflect.EnumKind:
		return c.walkEnum(fd.Enum(), v, path)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return c.walkInt(v, path, math.MinInt32, math.MaxInt32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return c.walkInt(v, path, math.MinInt64, math.MaxInt64)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return c.walkUint(v, path, math.MaxUint32)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return c.walkUint(v, path, math.MaxUint64)
	case protoreflect.FloatKind:
		return c.walkFloat(v, path, 32)
	case protoreflect.DoubleKind:
		return c.walkFloat(v, path, 64)
	default:
		// Message and group kinds are handled by walkSingular.
		return v
	}
}

func (c *checker) walkEnum(ed protoreflect.EnumDescriptor, v any, path *field.Path) any {
	if ed.FullName() == "google.protobuf.NullValue" {
		return nil
	}
	if s, ok := v.(string); ok {
		if ed.Values().ByName(protoreflect.Name(s)) == nil {
			c.Errorf(finding.CodeInvalidMeshConfig, path, "%q is not a value of %s; use one of %s", s, ed.Name(), enumNames(ed))
			return nil
		}
		return v
	}
	// Enums are open: any int32 is accepted, as Istio's decoder does.
	n, ok := jsonvalue.Integer(v)
	if !ok || n < math.MinInt32 || n > math.MaxInt32 {
		c.wrongType(path, "one of "+enumNames(ed), v)
		return nil
	}
	return v
}

func (c *checker) walkInt(v any, path *field.Path, lo, hi int64) any {
	n, ok := jsonvalue.Integer(v)
	if s, isString := v.(string); isString {
		// Istio's decoder also takes integers written as strings.
		parsed, err := strconv.ParseInt(s, 10, 64)
		n, ok = parsed, err == nil
	}
	if !ok {
		c.wrongType(path, "an integer", v)
		return nil
	}
	if n < lo || n > hi {
		c.Errorf(finding.CodeInvalidMeshConfig, path, "%d is out of range [%d, %d]; use a number in that range", n, lo, hi)
		return nil
	}
	return v
}

func (c *checker) walkUint(v any, path *field.Path, hi uint64) any {
	var n uint64
	ok := false
	switch x := v.(type) {
	case string:
		parsed, err := strconv.ParseUint(x, 10, 64)
		n, ok = parsed, err == nil
	case uint64:
		n, ok = x, true
	default:
		if i, isInt := jsonvalue.Integer(v); isInt && i >= 0 {
			n, ok = uint64(i), true
		} else if f, isNum := jsonvalue.Number(v); isNum && f == math.Trunc(f) && f >= 0 && f < 1<<64 {
			n, ok = uint64(f), true
		}
	}
	if !ok {
		c.wrongType(path, "a non-negative integer", v)
		return nil
	}
	if n > hi {
		c.Errorf(finding.CodeInvalidMeshConfig, path, "%d is out of range [0, %d]; use a number in that range", n, hi)
		return nil
	}
	return v
}

func (c *checker) walkFloat(v any, path *field.Path, bits int) any {
	if s, ok := v.(string); ok {
		switch s {
		case "NaN", "Infinity", "-Infinity":
			return v
		}
		if _, err := strconv.ParseFloat(s, bits); err != nil {
			c.wrongType(path, "a number", v)
			return nil
		}
		return v
	}
	f, ok := jsonvalue.Number(v)
	if !ok {
		c.wrongType(path, "a number", v)
		return nil
	}
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case bits == 32 && math.Abs(f) > math.MaxFloat32:
		c.Errorf(finding.CodeInvalidMeshConfig, path, "%g does not fit a 32-bit float; use a smaller number", f)
		return nil
	}
	return v
}

// walkDuration accepts what Go's time.ParseDuration accepts ("45s", "1m0s",
// "100ms"), as Istio's jsonpb decoder does, and rewrites it into the
// seconds-only form protojson requires.
func (c *checker) walkDuration(v any, path *field.Path) any {
	s, ok := v.(string)
	if !ok {
		c.wrongType(path, `a duration string such as "45s" or "1m30s"`, v)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		c.Errorf(finding.CodeInvalidMeshConfig, path, `%q is not a duration: %v; write it like "45s", "1m30s" or "100ms"`, s, err)
		return nil
	}
	sign := ""
	if d < 0 {
		sign = "-"
	}
	secs := d / time.Second
	nanos := d % time.Second
	if secs < 0 {
		secs = -secs
	}
	if nanos < 0 {
		nanos = -nanos
	}
	return fmt.Sprintf("%s%d.%09ds", sign, int64(secs), int64(nanos))
}

func (c *checker) walkTimestamp(v any, path *field.Path) any {
	s, ok := v.(string)
	if !ok {
		c.wrongType(path, "an RFC 3339 timestamp string", v)
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 1 || t.Year() > 9999 {
		c.Errorf(finding.CodeInvalidMeshConfig, path, "%q is not an RFC 3339 timestamp; write it like \"2026-01-02T15:04:05Z\"", s)
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z")
}

func (c *checker) walkAny(v any, path *field.Path) any {
	m, ok := v.(map[string]any)
	if !ok {
		c.wrongType(path, `a map with "@type"`, v)
		return nil
	}
	typeURL, ok := m["@type"].(string)
	if !ok {
		c.Errorf(finding.CodeInvalidMeshConfig, path.Child("@type"), `an Any needs "@type" set to a type URL such as "type.googleapis.com/<message>"; add it`)
		return nil
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(typeURL)
	if err != nil {
		c.Errorf(finding.CodeInvalidMeshConfig, path.Child("@type"), "type %q is not known to Istio: %v; use a registered message type", typeURL, err)
		return nil
	}
	md := mt.Descriptor()
	if isWellKnown(md.FullName()) {
		body := c.walkMessage(md, m["value"], path.Child("value"))
		if body == nil {
			return nil
		}
		return map[string]any{"@type": typeURL, "value": body}
	}
	rest := make(map[string]any, len(m))
	for k, val := range m {
		if k != "@type" {
			rest[k] = val
		}
	}
	body, ok := c.walkMessage(md, rest, path).(map[string]any)
	if !ok {
		return nil
	}
	body["@type"] = typeURL
	return body
}

func (c *checker) wrongType(path *field.Path, want string, got any) {
	c.Errorf(finding.CodeInvalidMeshConfig, path, "must be %s, not %s; Istio rejects the whole meshConfig over this, so change the value", want, jsonvalue.Describe(got))
}

// unknownFieldMessage explains an unknown key. The caCertificates case gets
// its own explanation because the original design note put istiod's CA
// Secret there, and that mistake is what users copy.
func unknownFieldMessage(md protoreflect.MessageDescriptor, key string) string {
	if md.FullName() == certificateDataMessage {
		return fmt.Sprintf("unknown field %q in a caCertificates entry: entries take \"pem\" (a PEM root certificate) "+
			"or \"spiffeBundleUrl\", with optional \"certSigners\" and \"trustDomains\", and only add extra trusted roots. "+
			"istiod's own CA is the \"cacerts\" Secret in istiod's namespace (a cert-manager Certificate with isCA: true "+
			"and secretName: cacerts provides it), not a caCertificates entry; remove %q and create that Secret instead", key, key)
	}
	msg := fmt.Sprintf("unknown field %q in %s", key, md.Name()) + protonames.Hint(md, key)
	// Current istioctl and istiod drop unknown MeshConfig fields silently
	// (older istioctl rejected them), so the setting the user meant is lost.
	return msg + "; Istio ignores unknown fields, so this setting has no effect: remove it or correct its name"
}

func checkMapKey(fd protoreflect.FieldDescriptor, key string) error {
	var err error
	switch fd.Kind() {
	case protoreflect.BoolKind:
		_, err = strconv.ParseBool(key)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		_, err = strconv.ParseInt(key, 10, 32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		_, err = strconv.ParseInt(key, 10, 64)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		_, err = strconv.ParseUint(key, 10, 32)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		_, err = strconv.ParseUint(key, 10, 64)
	default:
		// String keys take any text; proto allows no other key kinds.
	}
	if err != nil {
		return fmt.Errorf("failed to parse map key as %s: %w", fd.Kind(), err)
	}
	return nil
}

func isNullable(fd protoreflect.FieldDescriptor) bool {
	return !fd.IsList() && !fd.IsMap() && fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Value"
}

func isWellKnown(name protoreflect.FullName) bool {
	return strings.HasPrefix(string(name), "google.protobuf.")
}

func oneofNames(od protoreflect.OneofDescriptor) string {
	fields := od.Fields()
	names := make([]string, 0, fields.Len())
	for i := range fields.Len() {
		names = append(names, fields.Get(i).JSONName())
	}
	return "one of " + strings.Join(names, ", ")
}

func enumNames(ed protoreflect.EnumDescriptor) string {
	values := ed.Values()
	names := make([]string, 0, values.Len())
	for i := range values.Len() {
		names = append(names, string(values.Get(i).Name()))
	}
	return strings.Join(names, ", ")
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
