// Package mddoc writes the Markdown tables that mirror code (flags, metrics,
// annotations, chart values) and keeps them current in the docs: each sits
// between "<!-- name:start -->" and "<!-- name:end -->" markers, and a golden
// test compares it with what the code gives, rewriting it under
// UPDATE_GOLDEN=1 (make golden).
package mddoc

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Table is a Markdown table. Cells are written as given, with "|" escaped
// and line breaks folded, so a cell can never end its row early.
func Table(header []string, rows [][]string) string {
	var b strings.Builder
	writeRow(&b, header)
	b.WriteString("|" + strings.Repeat("---|", len(header)) + "\n")
	for _, row := range rows {
		writeRow(&b, row)
	}
	return b.String()
}

func writeRow(b *strings.Builder, cells []string) {
	b.WriteString("|")
	for _, c := range cells {
		c = strings.ReplaceAll(c, "|", `\|`)
		c = strings.Join(strings.Fields(c), " ")
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n")
}

// Code formats s as inline code, or nothing when s is empty.
func Code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

// Replace returns doc with the section name holding content.
func Replace(doc, name, content string) (string, error) {
	start, end := "<!-- "+name+":start -->\n", "<!-- "+name+":end -->"
	before, rest, ok := strings.Cut(doc, start)
	if !ok {
		return "", fmt.Errorf("failed to find the marker %q", strings.TrimSpace(start))
	}
	_, after, ok := strings.Cut(rest, end)
	if !ok {
		return "", fmt.Errorf("failed to find the marker %q", end)
	}
	return before + start + content + end + after, nil
}

// Golden fails t unless the section name of the file at path holds content;
// with UPDATE_GOLDEN set it writes the section instead.
func Golden(t testing.TB, path, name, content string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("failed to read %s: %v", path, err)
	}
	want, err := Replace(string(data), name, content)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil { //nolint:gosec // Docs are world-readable.
			t.Fatalf("failed to write %s: %v", path, err)
		}
		return
	}
	if want != string(data) {
		t.Errorf("the %s table in %s is stale: run make golden (want:\n%s)", name, path, content)
	}
}
