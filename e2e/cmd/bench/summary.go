package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// summary is what `make bench` prints at the end, one line per figure, and
// the Markdown tables written next to the logs.
type summary struct {
	lines  []string
	report strings.Builder
}

func (s *summary) linef(format string, args ...any) {
	s.lines = append(s.lines, fmt.Sprintf(format, args...))
}

// table adds a Markdown table under a heading to the report.
func (s *summary) table(heading string, header []string, rows [][]string) {
	fmt.Fprintf(&s.report, "\n### %s\n\n| %s |\n|%s\n", heading, strings.Join(header, " | "), strings.Repeat("---|", len(header)))
	for _, row := range rows {
		fmt.Fprintf(&s.report, "| %s |\n", strings.Join(row, " | "))
	}
}

func (s *summary) print(w io.Writer) {
	for _, l := range s.lines {
		fmt.Fprintln(w, l)
	}
}

func (s *summary) writeReport(path string) error {
	if err := os.WriteFile(path, []byte(s.report.String()), 0o600); err != nil {
		return fmt.Errorf("failed to write the report: %w", err)
	}
	return nil
}

// ms formats seconds as milliseconds.
func ms(seconds float64) string { return fmt.Sprintf("%.2f ms", seconds*1000) }
