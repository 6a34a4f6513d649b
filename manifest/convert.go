package manifest

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

const (
	// maxDepth bounds recursion. The parsers already stop at 10000 levels,
	// but alias expansion can stack anchored subtrees on top of each other.
	maxDepth = 10000

	// Alias expansion limits copied from yaml.v2/v3: they let small documents
	// use aliases freely while stopping "billion laughs" inputs.
	aliasRatioRangeLow  = 400000
	aliasRatioRangeHigh = 4000000
	aliasRatioRange     = float64(aliasRatioRangeHigh - aliasRatioRangeLow)
)

// lineError carries the source line of a problem found while converting the
// node tree; Decode turns it into a DecodeError naming the file.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }
func (e *lineError) Unwrap() error { return e.err }

func errAt(n *yaml.Node, format string, args ...any) error {
	return &lineError{line: n.Line, err: fmt.Errorf(format, args...)}
}

// converter turns a yaml.v3 node tree into unstructured-compatible values
// with yaml.v2 (kubectl) semantics. One converter is used per document so
// the alias budget is per document, like in yaml.v2.
type converter struct {
	decodeCount int
	aliasCount  int
	aliasDepth  int
	depth       int
	// active holds the alias nodes being expanded, to reject anchors that
	// contain themselves instead of recursing forever.
	active map[*yaml.Node]bool
}

func allowedAliasRatio(decodeCount int) float64 {
	switch {
	case decodeCount <= aliasRatioRangeLow:
		return 0.99
	case decodeCount >= aliasRatioRangeHigh:
		return 0.10
	default:
		return 0.99 - 0.89*(float64(decodeCount-aliasRatioRangeLow)/aliasRatioRange)
	}
}

func (c *converter) enter(n *yaml.Node) error {
	c.decodeCount++
	if c.aliasDepth > 0 {
		c.aliasCount++
	}
	if c.aliasCount > 100 && c.decodeCount > 1000 && float64(c.aliasCount)/float64(c.decodeCount) > allowedAliasRatio(c.decodeCount) {
		return errAt(n, "document contains excessive aliasing")
	}
	c.depth++
	if c.depth > maxDepth {
		return errAt(n, "exceeded max depth of %d", maxDepth)
	}
	return nil
}

// value converts n into nil, bool, int64, float64, string,
// map[string]any or []any.
func (c *converter) value(n *yaml.Node) (any, error) {
	raw, err := c.raw(n)
	if err != nil {
		return nil, err
	}
	v, err := normalize(raw)
	if err != nil {
		return nil, errAt(n, "%w", err)
	}
	return v, nil
}

// raw is value without number normalisation, which map keys need: yaml.v2
// stringifies a float key from the float, not from its JSON form.
func (c *converter) raw(n *yaml.Node) (any, error) {
	if err := c.enter(n); err != nil {
		return nil, err
	}
	defer func() { c.depth-- }()

	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.raw(n.Content[0])
	case yaml.AliasNode:
		return c.alias(n, c.raw)
	case yaml.ScalarNode:
		v, err := scalarValue(n)
		if err != nil {
			return nil, errAt(n, "%w", err)
		}
		return v, nil
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		if err := c.mapping(n, m); err != nil {
			return nil, err
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, item := range n.Content {
			v, err := c.value(item)
			if err != nil {
				return nil, err
			}
			s[i] = v
		}
		return s, nil
	default:
		return nil, errAt(n, "unexpected YAML node kind %d", n.Kind)
	}
}

func (c *converter) alias(n *yaml.Node, fn func(*yaml.Node) (any, error)) (any, error) {
	if n.Alias == nil {
		return nil, errAt(n, "unknown anchor %q referenced", n.Value)
	}
	if c.active[n] {
		return nil, errAt(n, "anchor %q value contains itself", n.Value)
	}
	if c.active == nil {
		c.active = make(map[*yaml.Node]bool)
	}
	c.active[n] = true
	c.aliasDepth++
	v, err := fn(n.Alias)
	c.aliasDepth--
	delete(c.active, n)
	return v, err
}

// mapping fills m from n. Pairs apply in order and the last one wins, merge
// keys included, exactly like yaml.v2 decoding into a map.
func (c *converter) mapping(n *yaml.Node, m map[string]any) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			if err := c.merge(v, m); err != nil {
				return err
			}
			continue
		}
		key, err := c.key(k)
		if err != nil {
			return err
		}
		val, err := c.value(v)
		if err != nil {
			return err
		}
		m[key] = val
	}
	return nil
}

func (c *converter) key(k *yaml.Node) (string, error) {
	raw, err := c.raw(k)
	if err != nil {
		return "", err
	}
	switch raw.(type) {
	case map[string]any, []any:
		return "", errAt(k, "invalid map key: a key must be a scalar")
	}
	s, err := keyString(raw)
	if err != nil {
		return "", errAt(k, "%w", err)
	}
	return s, nil
}

var errMergeWantsMap = errors.New("map merge requires map or sequence of maps as the value")

func (c *converter) merge(n *yaml.Node, m map[string]any) error {
	into := func(src *yaml.Node) (any, error) {
		if err := c.enter(src); err != nil {
			return nil, err
		}
		defer func() { c.depth-- }()
		return nil, c.mapping(src, m)
	}
	mergeOne := func(src *yaml.Node) error {
		switch src.Kind {
		case yaml.MappingNode:
			_, err := into(src)
			return err
		case yaml.AliasNode:
			if src.Alias == nil || src.Alias.Kind != yaml.MappingNode {
				return errAt(src, "%w", errMergeWantsMap)
			}
			_, err := c.alias(src, into)
			return err
		default:
			return errAt(src, "%w", errMergeWantsMap)
		}
	}
	if n.Kind != yaml.SequenceNode {
		return mergeOne(n)
	}
	// Earlier maps take precedence, so apply them last.
	for i := len(n.Content) - 1; i >= 0; i-- {
		if err := mergeOne(n.Content[i]); err != nil {
			return err
		}
	}
	return nil
}

func isMerge(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && n.Tag == "!!merge"
}
