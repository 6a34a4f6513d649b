// Package protonames helps a user who mistyped a field of a protobuf
// message written as JSON or YAML (Istio's Gateway, MeshConfig): the
// message's JSON field names, and the one a typo most likely meant.
package protonames

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Hint is what to add to an unknown-field message about key in md: the
// valid names when there are a few, else the closest one, if any is close.
func Hint(md protoreflect.MessageDescriptor, key string) string {
	names := JSONNames(md)
	if len(names) <= 8 {
		return "; valid fields are " + strings.Join(names, ", ")
	}
	if s := Closest(key, names); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// JSONNames lists a message's JSON field names, sorted.
func JSONNames(md protoreflect.MessageDescriptor) []string {
	fields := md.Fields()
	names := make([]string, 0, fields.Len())
	for i := range fields.Len() {
		names = append(names, fields.Get(i).JSONName())
	}
	slices.Sort(names)
	return names
}

// Closest suggests the field a typo most likely meant, case-insensitively
// and only when it is close, so the hint is never a wild guess.
func Closest(key string, names []string) string {
	best, bestDist := "", 4
	lower := strings.ToLower(key)
	for _, n := range names {
		if d := editDistance(lower, strings.ToLower(n)); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance; keys are short, and long ones
// are cut off so a fuzzed key cannot make this quadratic in a large input.
func editDistance(a, b string) int {
	const maxLen = 64
	ra, rb := []rune(a), []rune(b)
	if len(ra) > maxLen || len(rb) > maxLen {
		return maxLen
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
