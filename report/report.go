// Package report renders what `meshcert check` found, for people and for
// the systems that gate on it: text, JSON, SARIF 2.1.0 (code scanning), JUnit
// XML (test reports) and GitHub workflow commands (annotations). It decides
// nothing: findings and where they are come in, bytes go out.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/meshcert/meshcert/finding"
)

// Finding is a finding with where it is in the input. File is empty when
// the finding is about no object of the input; Line and Column are 0 when
// unknown.
type Finding struct {
	finding.Finding
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// ObjectIndex is the index into Report.Objects of the object the
	// finding is about, or -1.
	ObjectIndex int `json:"-"`
}

// Object is one object of the input: a test case of the JUnit report.
type Object struct {
	Ref  finding.ObjectRef
	File string
	Line int
}

// Report is one run of `meshcert check`.
type Report struct {
	// Findings in the order they are printed: by file, then line.
	Findings []Finding
	// Objects are every object read, in input order.
	Objects []Object
	// Version is meshcert's version, for the SARIF tool.
	Version string
	// FailOn decides which findings fail the run (and JUnit test cases).
	FailOn Threshold
}

// Failed reports whether a finding reaches the FailOn threshold.
func (r *Report) Failed() bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return r.FailOn.Fails(f.Severity) })
}

// Threshold is the lowest severity that fails a run.
type Threshold string

const (
	FailOnError   Threshold = "error"
	FailOnWarning Threshold = "warning"
	FailOnNever   Threshold = "never"
)

// Thresholds are the values --fail-on takes.
var Thresholds = []Threshold{FailOnError, FailOnWarning, FailOnNever}

// Fails reports whether a finding of severity s fails a run. Infos never do.
func (t Threshold) Fails(s finding.Severity) bool {
	switch t {
	case FailOnError:
		return s == finding.SeverityError
	case FailOnWarning:
		return s == finding.SeverityError || s == finding.SeverityWarning
	default:
		return false
	}
}

// Format is an output format of `meshcert check -o`.
type Format string

const (
	Text   Format = "text"
	JSON   Format = "json"
	SARIF  Format = "sarif"
	JUnit  Format = "junit"
	GitHub Format = "github"
)

// Formats are the formats -o takes, in the order the help lists them.
var Formats = []Format{Text, JSON, SARIF, JUnit, GitHub}

// FormatNames lists Formats for help texts and errors: "text, json, ... or github".
func FormatNames() string {
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Write renders r in format f.
func Write(w io.Writer, f Format, r *Report) error {
	switch f {
	case Text:
		return writeText(w, r)
	case JSON:
		return writeJSON(w, r)
	case SARIF:
		return writeSARIF(w, r)
	case JUnit:
		return writeJUnit(w, r)
	case GitHub:
		return writeGitHub(w, r)
	default:
		return fmt.Errorf("unknown output format %q: use %s", f, FormatNames())
	}
}

// writeText prints one line per finding: file:line: severity code object: field: message.
func writeText(w io.Writer, r *Report) error {
	for _, f := range r.Findings {
		if _, err := io.WriteString(w, textLine(f)+"\n"); err != nil {
			return fmt.Errorf("failed to write findings: %w", err)
		}
	}
	return nil
}

// textLine is a finding as one printable line: what a manifest holds
// (names, keys, values quoted in messages) cannot break it in two, move a
// terminal's cursor, or start a line a CI runner reads as a command (GitHub
// Actions takes any line beginning with "::").
func textLine(f Finding) string {
	where := ""
	if f.File != "" {
		file := f.File
		if strings.HasPrefix(file, ":") {
			file = "./" + file
		}
		where = fmt.Sprintf("%s:%d: ", file, f.Line)
	}
	return Printable(fmt.Sprintf("%s%s %s %s: %s", where, f.Severity, f.Code, f.Object, fieldMessage(f)))
}

// Printable escapes what a terminal or a log would act on instead of
// showing: control characters (line breaks, escape sequences), other
// non-printing runes and invalid UTF-8, written as Go escapes (\n, \x1b,
// \u200b). Printable text, spaces included, is left as it is.
func Printable(s string) string {
	if !strings.ContainsFunc(s, needsEscape) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case needsEscape(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return r != ' ' && !unicode.IsPrint(r)
}

// fieldMessage is the message prefixed by the field it is about, if any.
func fieldMessage(f Finding) string {
	if f.Field == "" {
		return f.Message
	}
	return f.Field + ": " + f.Message
}

func writeJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	findings := r.Findings
	if findings == nil {
		findings = []Finding{}
	}
	if err := enc.Encode(struct {
		Findings []Finding `json:"findings"`
	}{Findings: findings}); err != nil {
		return fmt.Errorf("failed to encode findings: %w", err)
	}
	return nil
}
