package chart

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/meshcert/meshcert/internal/mddoc"
)

// Value is one documented entry of values.yaml.
type Value struct {
	// Key is the dotted path, such as webhook.tls.mode.
	Key string
	// Default is the value as written in values.yaml.
	Default string
	// Description is the "# -- " comment above it.
	Description string
}

// Values reads the documented values of a values.yaml: a "# -- text"
// comment (continued by further "# " lines) describes the key on the next
// line. A key whose value is a nested map is a section, not a value, and
// needs no description; any other key without one is an error, so every
// value stays documented.
func Values(data []byte) ([]Value, error) {
	type section struct {
		indent int
		key    string
		// inside a documented map or list: its lines are its default.
		documented bool
	}
	var (
		out      []Value
		sections []section
		pending  string
		lineNo   int
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "", strings.HasPrefix(trimmed, "- "):
			// Blank, or an item of a list value.
			continue
		case strings.HasPrefix(trimmed, "# -- "):
			pending = strings.TrimPrefix(trimmed, "# -- ")
			continue
		case strings.HasPrefix(trimmed, "#"):
			if pending != "" {
				pending += " " + strings.TrimSpace(strings.TrimPrefix(trimmed, "#"))
			}
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		key, value, ok := strings.Cut(trimmed, ":")
		if !ok {
			return nil, fmt.Errorf("failed to read values.yaml line %d: %q is not a key", lineNo, line)
		}
		for len(sections) > 0 && sections[len(sections)-1].indent >= indent {
			sections = sections[:len(sections)-1]
		}
		path := key
		if len(sections) > 0 {
			parent := sections[len(sections)-1]
			if parent.documented {
				sections = append(sections, section{indent: indent, key: parent.key + "." + key, documented: true})
				continue
			}
			path = parent.key + "." + key
		}
		value = strings.TrimSpace(value)
		switch {
		case value == "" && pending == "":
			sections = append(sections, section{indent: indent, key: path})
		case pending == "":
			return nil, fmt.Errorf("values.yaml line %d: %s has no \"# -- \" description", lineNo, path)
		case value == "":
			sections = append(sections, section{indent: indent, key: path, documented: true})
			out = append(out, Value{Key: path, Default: "(see values.yaml)", Description: pending})
		default:
			out = append(out, Value{Key: path, Default: value, Description: pending})
		}
		pending = ""
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("failed to read values.yaml: %w", err)
	}
	return out, nil
}

// ValuesTable is the Markdown table of values for the chart's README.
func ValuesTable(values []Value) string {
	rows := make([][]string, len(values))
	for i, v := range values {
		rows[i] = []string{mddoc.Code(v.Key), "`" + v.Default + "`", v.Description}
	}
	return mddoc.Table([]string{"key", "default", "description"}, rows)
}
