package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// JSON is parsed separately rather than as YAML because valid JSON is not
// always valid YAML for the yaml.v3 parser: `\/` escapes, surrogate pair
// escapes, tab indentation and keys longer than 1024 bytes are all rejected.
// The tokens are turned into the same node tree the YAML path produces, so
// conversion and LineOf need no JSON special cases.

var utf8BOM = []byte("\xef\xbb\xbf")

// looksLikeJSON reports whether data starts like a JSON object, which is the
// test kubectl uses to pick its JSON decoder.
func looksLikeJSON(data []byte) bool {
	trimmed := bytes.TrimPrefix(data, utf8BOM)
	trimmed = bytes.TrimLeft(trimmed, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{'
}

type jsonParser struct {
	data     []byte
	dec      *json.Decoder
	newlines []int // byte offsets of '\n', to turn offsets into lines
	depth    int
}

func newJSONParser(data []byte) *jsonParser {
	p := &jsonParser{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	for i, b := range data {
		if b == '\n' {
			p.newlines = append(p.newlines, i)
		}
	}
	return p
}

// parseJSON returns one document node per top-level JSON value; like
// kubectl, a stream of concatenated objects is accepted.
func parseJSON(data []byte) ([]*yaml.Node, error) {
	// A byte order mark is legal in YAML but not in JSON; dropping it only
	// shifts columns on line 1.
	p := newJSONParser(bytes.TrimPrefix(data, utf8BOM))
	var docs []*yaml.Node
	for {
		n, err := p.next()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, &yaml.Node{Kind: yaml.DocumentNode, Line: n.Line, Column: n.Column, Content: []*yaml.Node{n}})
	}
}

func (p *jsonParser) position(offset int) (line, column int) {
	i := sort.SearchInts(p.newlines, offset)
	if i == 0 {
		return 1, offset + 1
	}
	return i + 1, offset - p.newlines[i-1]
}

// tokenStart finds where the next token begins: the decoder's offset points
// just past the previous token, before any separators.
func (p *jsonParser) tokenStart() int {
	off := int(p.dec.InputOffset())
	for off < len(p.data) {
		switch p.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

func (p *jsonParser) errorAt(offset int, err error) error {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		offset = int(syntax.Offset)
	}
	if offset >= len(p.data) && offset > 0 {
		offset = len(p.data) - 1
	}
	line, _ := p.position(offset)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &lineError{line: line, err: err}
}

func (p *jsonParser) next() (*yaml.Node, error) {
	start := p.tokenStart()
	tok, err := p.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, p.errorAt(start, err)
	}
	return p.node(start, tok)
}

func (p *jsonParser) node(start int, tok json.Token) (*yaml.Node, error) {
	line, column := p.position(start)
	n := &yaml.Node{Line: line, Column: column}
	switch tok := tok.(type) {
	case json.Delim:
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxDepth {
			return nil, &lineError{line: line, err: fmt.Errorf("exceeded max depth of %d", maxDepth)}
		}
		if tok == '{' {
			n.Kind, n.Tag = yaml.MappingNode, "!!map"
		} else {
			n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
		}
		n.Style = yaml.FlowStyle
		for p.dec.More() {
			if n.Kind == yaml.MappingNode {
				k, err := p.next()
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, k)
			}
			v, err := p.next()
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, v)
		}
		end := p.tokenStart()
		if _, err := p.dec.Token(); err != nil {
			return nil, p.errorAt(end, err)
		}
	case string:
		n.Kind, n.Tag, n.Value, n.Style = yaml.ScalarNode, "!!str", tok, yaml.DoubleQuotedStyle
	case json.Number:
		// Plain numbers go through the YAML resolver so JSON and YAML
		// input normalise identically (1.0 becomes int64 1 in both).
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!float", tok.String()
	case bool:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!bool", strconv.FormatBool(tok)
	case nil:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!null", "null"
	default:
		return nil, &lineError{line: line, err: fmt.Errorf("unexpected JSON token %v", tok)}
	}
	return n, nil
}
