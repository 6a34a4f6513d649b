package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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

// Decode decodes every object in one file's contents: a multi-document YAML
// stream or JSON, with List kinds split into their items. Empty and
// comment-only documents are skipped. file is only used for positions and
// errors. Index counts from 0 within this file.
func Decode(file string, data []byte) ([]*Object, error) {
	d := &decoder{file: file, data: data}
	if looksLikeJSON(data) {
		docs, jsonErr := parseJSON(data)
		if jsonErr == nil {
			for _, doc := range docs {
				if err := d.document(doc); err != nil {
					return nil, d.wrap(err)
				}
			}
			return d.objs, nil
		}
		// A .json file must be JSON, but a YAML flow mapping also starts
		// with '{', so anything else falls back to YAML.
		if strings.EqualFold(filepath.Ext(file), ".json") {
			return nil, d.wrap(jsonErr)
		}
	}
	return d.decodeYAML(data)
}

type decoder struct {
	file string
	data []byte
	objs []*Object
	// lastLine is the highest line seen so far, used as the position of
	// parser errors that carry no line of their own.
	lastLine int
}

var (
	yamlLineError = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchor = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
)

func (d *decoder) wrap(err error) error {
	var le *lineError
	if errors.As(err, &le) {
		return &DecodeError{File: d.file, Line: max(le.line, 1), Err: le.err}
	}
	line := d.lastLine + 1
	msg := err.Error()
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		// yaml.v3 gives no line here; the alias is easy to find.
		if i := bytes.Index(d.data, []byte("*"+m[1])); i >= 0 {
			line = bytes.Count(d.data[:i], []byte("\n")) + 1
		}
	}
	if m := yamlLineError.FindStringSubmatch(msg); m != nil {
		if l, convErr := strconv.Atoi(m[1]); convErr == nil {
			line = l
		}
		return &DecodeError{File: d.file, Line: max(line, 1), Err: errors.New(m[2])}
	}
	return &DecodeError{File: d.file, Line: max(line, 1), Err: errors.New(strings.TrimPrefix(msg, "yaml: "))}
}

func (d *decoder) decodeYAML(data []byte) (objs []*Object, err error) {
	d.objs, d.lastLine = nil, 0
	// yaml.v3 still has internal panics ("unexpected tail comment event")
	// reachable from odd comment layouts; a CLI reading user files must
	// report them as errors instead of crashing.
	defer func() {
		if r := recover(); r != nil {
			objs, err = nil, d.wrap(fmt.Errorf("YAML parser failed: %v", r))
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return d.objs, nil
			}
			return nil, d.wrap(err)
		}
		if err := d.document(&doc); err != nil {
			return nil, d.wrap(err)
		}
	}
}

func (d *decoder) document(doc *yaml.Node) error {
	d.lastLine = max(d.lastLine, doc.Line)
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	c := &converter{}
	v, err := c.value(root)
	d.lastLine = max(d.lastLine, lastLine(root))
	if err != nil {
		return err
	}
	if v == nil {
		// Empty, comment-only and explicit null documents carry no object.
		return nil
	}
	return d.object(root, v, 0)
}

// lastLine approximates where a document ends, for errors without a line.
func lastLine(n *yaml.Node) int {
	for i := 0; n != nil && i < maxDepth; i++ {
		if len(n.Content) == 0 {
			return n.Line
		}
		n = n.Content[len(n.Content)-1]
	}
	return 0
}

const maxListDepth = 100

func (d *decoder) object(n *yaml.Node, v any, listDepth int) error {
	m, ok := v.(map[string]any)
	if !ok {
		return &lineError{line: n.Line, err: fmt.Errorf("expected a mapping (a Kubernetes object), found %s", describe(v))}
	}
	u := &unstructured.Unstructured{Object: m}
	if items, ok := listItems(u); ok {
		if listDepth >= maxListDepth {
			return &lineError{line: n.Line, err: fmt.Errorf("lists nested deeper than %d", maxListDepth)}
		}
		itemsNode := child(n, segment{key: "items"})
		for i, item := range items {
			itemNode := n
			if itemsNode != nil {
				if seq := deref(itemsNode.value); seq != nil && seq.Kind == yaml.SequenceNode && i < len(seq.Content) {
					itemNode = seq.Content[i]
				}
			}
			if err := d.object(itemNode, item, listDepth+1); err != nil {
				var le *lineError
				if errors.As(err, &le) {
					return &lineError{line: le.line, err: fmt.Errorf("%s item %d: %w", u.GetKind(), i, le.err)}
				}
				return err
			}
		}
		return nil
	}
	if u.GetAPIVersion() == "" {
		return &lineError{line: n.Line, err: errors.New("object has no apiVersion")}
	}
	if u.GetKind() == "" {
		return &lineError{line: n.Line, err: errors.New("object has no kind")}
	}
	d.objs = append(d.objs, &Object{Object: u, File: d.file, Line: n.Line, Index: len(d.objs), node: n})
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
		return fmt.Sprintf("the string %q", truncate(v, 40))
	default:
		return fmt.Sprintf("%T %v", v, v)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
