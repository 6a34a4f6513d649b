package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"
)

// StdinName is the file name given to objects read from stdin.
const StdinName = "<stdin>"

// DecodeError reports a manifest that cannot be decoded, with the position
// the user should look at.
type DecodeError struct {
	File string
	Line int
	Err  error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("failed to decode %s:%d: %v", e.File, e.Line, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

var (
	yamlLineError = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)
	yamlAnchor    = regexp.MustCompile(`anchor '(.*)'`)
)

// Decode decodes every object in one file's contents: a multi-document YAML
// stream or JSON, with List kinds split into their items. Empty and
// comment-only documents are skipped. file is only used for positions and
// errors. Index counts from 0 within this file.
func Decode(file string, data []byte) ([]*Object, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	d := &decoder{file: file}
	if utilyaml.IsJSONBuffer(data) {
		err := d.decodeJSON(data)
		if err == nil {
			return d.objs, nil
		}
		// A .json file must be JSON, but a YAML flow mapping also starts
		// with '{', so anything else falls back to YAML.
		if strings.EqualFold(filepath.Ext(file), ".json") {
			return nil, err
		}
		d.objs = nil
	}
	if err := d.decodeYAML(data); err != nil {
		return nil, err
	}
	return d.objs, nil
}

type decoder struct {
	file string
	objs []*Object
	// duplicates: the document being decoded may repeat a key.
	duplicates bool
}

func (d *decoder) errorf(line int, format string, args ...any) error {
	return &DecodeError{File: d.file, Line: max(line, 1), Err: fmt.Errorf(format, args...)}
}

// decodeJSON reads a stream of JSON values, the way kubectl reads JSON.
func (d *decoder) decodeJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		start := int(dec.InputOffset())
		start = len(data) - len(bytes.TrimLeft(data[start:], " \t\r\n"))
		var v any
		if err := dec.Decode(&v); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			offset := len(data) - 1 // io.ErrUnexpectedEOF
			if syntax := (*json.SyntaxError)(nil); errors.As(err, &syntax) {
				offset = min(int(syntax.Offset), offset)
			}
			return d.errorf(bytes.Count(data[:offset], []byte("\n"))+1, "%w", err)
		}
		doc := data[start:dec.InputOffset()]
		// encoding/json keeps the last of repeated keys, as kubectl does;
		// sigs.k8s.io/json's strict decode is what notices them.
		var discard any
		strictErrs, _ := sigsjson.UnmarshalStrict(doc, &discard)
		d.duplicates = len(strictErrs) > 0
		// A value may start mid-line (indented, or after another on the
		// same line): blanks in place of what precedes it on its line keep
		// the columns of positions those of the file.
		lineStart := bytes.LastIndexByte(data[:start], '\n') + 1
		doc = append(bytes.Repeat([]byte(" "), utf8.RuneCount(data[lineStart:start])), doc...)
		if err := d.decodeDocument(doc, bytes.Count(data[:start], []byte("\n")), v); err != nil {
			return err
		}
	}
}

// decodeYAML splits a YAML stream into documents on lines starting with
// "---", exactly like kubectl (k8s.io/apimachinery/pkg/util/yaml.YAMLReader),
// and decodes each with sigs.k8s.io/yaml.
func (d *decoder) decodeYAML(data []byte) error {
	docStart, docLine := 0, 0 // offset of the current document and lines before it
	for off, line := 0, 1; off < len(data); line++ {
		next := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			next = off + i + 1
		}
		if rest, ok := bytes.CutPrefix(data[off:next], []byte("---")); ok {
			if rest = bytes.TrimSpace(rest); len(rest) > 0 && rest[0] != '#' {
				return d.errorf(line, "invalid YAML document separator: %s", rest)
			}
			if err := d.yamlDocument(data[docStart:off], docLine); err != nil {
				return err
			}
			docStart, docLine = next, line
		}
		off = next
	}
	return d.yamlDocument(data[docStart:], docLine)
}

// yamlDocument decodes one document whose first line is line offset+1.
func (d *decoder) yamlDocument(src []byte, offset int) error {
	if v, ok := plainYAML(src); ok {
		d.duplicates = false
		return d.decodeValue(src, offset, v)
	}
	// The strict decode costs one map lookup per key more and fails on a
	// repeated key, which kubectl's lenient decode keeps silently; merge
	// keys overridden on purpose fail it too, which DuplicateKeys sorts out.
	j, err := sigsyaml.YAMLToJSONStrict(src)
	d.duplicates = err != nil
	if err != nil {
		j, err = sigsyaml.YAMLToJSON(src)
	}
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := offset + firstLine(src)
		if m := yamlLineError.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			line, msg = offset+max(n, 1), m[2]
		} else if m := yamlAnchor.FindStringSubmatch(msg); m != nil {
			// yaml.v2 gives no line here; the alias is easy to find.
			if i := bytes.Index(src, []byte("*"+m[1])); i >= 0 {
				line = offset + bytes.Count(src[:i], []byte("\n")) + 1
			}
		}
		return d.errorf(line, "%s", msg)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return d.errorf(offset+firstLine(src), "%w", err)
	}
	return d.decodeDocument(src, offset, v)
}

// firstLine is the line, counting from 1, of the first content in src.
func firstLine(src []byte) int {
	for n := 1; ; n++ {
		line, rest, found := bytes.Cut(src, []byte("\n"))
		if t := bytes.TrimSpace(line); !found || (len(t) > 0 && t[0] != '#') {
			return n
		}
		src = rest
	}
}

// decodeDocument turns the value of one document, decoded from src, into objects.
// The lines before src are offset.
func (d *decoder) decodeDocument(src []byte, offset int, v any) error {
	v, err := numbers(v)
	if err != nil {
		return d.errorf(offset+firstLine(src), "%w", err)
	}
	return d.decodeValue(src, offset, v)
}

// decodeValue is decodeDocument for a value whose numbers are int64 or
// float64 already.
func (d *decoder) decodeValue(src []byte, offset int, v any) error {
	if v == nil {
		// Empty, comment-only and explicit null documents carry no object.
		return nil
	}
	return d.object(&document{src: src}, nil, v, offset, offset+firstLine(src), 0)
}

// numbers replaces json.Numbers with int64 or float64 the way the API
// machinery does. Integral floats become int64 as well, so that JSON `1.0`
// decodes like YAML `1.0` and survives Write.
func numbers(v any) (any, error) {
	var err error
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if v[k], err = numbers(x); err != nil {
				return nil, err
			}
		}
	case []any:
		for i, x := range v {
			if v[i], err = numbers(x); err != nil {
				return nil, err
			}
		}
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, nil
		}
		f, err := v.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", v, errors.Unwrap(err))
		}
		if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
			return int64(f), nil
		}
		return f, nil
	}
	return v, nil
}

// object adds v, found on line, or the items of a List. v is either the
// root of doc or a List item at node n (nil when unknown).
func (d *decoder) object(doc *document, n *yaml.Node, v any, offset, line, listDepth int) error {
	m, ok := v.(map[string]any)
	if !ok {
		return d.errorf(line, "expected a mapping (a Kubernetes object), found %s", describe(v))
	}
	u := &unstructured.Unstructured{Object: m}
	if items, ok := listItems(u); ok {
		if listDepth >= maxListDepth {
			return d.errorf(line, "lists nested deeper than %d", maxListDepth)
		}
		if doc != nil {
			n = doc.root()
		}
		var seq *yaml.Node
		if f := child(n, segment{key: "items"}); f != nil {
			seq = deref(f.value)
		}
		for i, item := range items {
			itemNode, itemLine := (*yaml.Node)(nil), line
			if seq != nil && seq.Kind == yaml.SequenceNode && i < len(seq.Content) {
				itemNode, itemLine = seq.Content[i], offset+seq.Content[i].Line
			}
			if err := d.object(nil, itemNode, item, offset, itemLine, listDepth+1); err != nil {
				if de := (*DecodeError)(nil); errors.As(err, &de) {
					de.Err = fmt.Errorf("%s item %d: %w", u.GetKind(), i, de.Err)
				}
				return err
			}
		}
		return nil
	}
	if u.GetAPIVersion() == "" {
		return d.errorf(line, "object has no apiVersion")
	}
	if u.GetKind() == "" {
		return d.errorf(line, "object has no kind")
	}
	d.objs = append(d.objs, &Object{Object: u, File: d.file, Line: line, Index: len(d.objs), node: n, doc: doc, offset: offset, duplicates: d.duplicates})
	return nil
}

// listItems reports whether u is a List (kind v1/List or any *List kind with
// items) and returns its items.
func listItems(u *unstructured.Unstructured) ([]any, bool) {
	kind, _ := u.Object["kind"].(string)
	if !strings.HasSuffix(kind, "List") {
		return nil, false
	}
	raw, found := u.Object["items"]
	if !found {
		return nil, false
	}
	switch items := raw.(type) {
	case []any:
		return items, true
	case nil:
		return nil, true
	default:
		return nil, false
	}
}

func describe(v any) string {
	switch v := v.(type) {
	case []any:
		return "a list"
	case string:
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("the string %q", v)
	default:
		return fmt.Sprintf("%T %v", v, v)
	}
}
