package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/meshcert/meshcert/manifest"
)

// The JUnit XML that Jenkins, GitLab and most CI test-report viewers read
// (Jenkins' junit-4.xsd): one test suite per input file, one test case per
// object.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// junitSuiteName names the suite of findings about no object of the input.
const junitSuiteName = "meshcert"

// writeJUnit writes a test case for every object: it fails when one of its
// findings reaches the FailOn threshold (every finding is in the failure's
// body, one per line); findings below it are in system-out. Findings about
// no object of the input are test cases of a suite of their own.
func writeJUnit(w io.Writer, r *Report) error {
	type caseKey struct {
		suite  string
		object int
		other  string
	}
	var suiteOrder []string
	suites := map[string]*junitSuite{}
	cases := map[caseKey]*junitCase{}
	var caseOrder []caseKey
	addCase := func(k caseKey, name string) *junitCase {
		if c, ok := cases[k]; ok {
			return c
		}
		if _, ok := suites[k.suite]; !ok {
			suites[k.suite] = &junitSuite{Name: k.suite}
			suiteOrder = append(suiteOrder, k.suite)
		}
		c := &junitCase{Name: name, Classname: k.suite}
		cases[k] = c
		caseOrder = append(caseOrder, k)
		return c
	}
	for i, o := range r.Objects {
		addCase(caseKey{suite: suiteName(o.File), object: i}, o.Ref.String())
	}
	failing := map[*junitCase][]Finding{}
	passing := map[*junitCase][]Finding{}
	for _, f := range r.Findings {
		k := caseKey{suite: junitSuiteName, object: -1, other: f.Object.String()}
		if f.ObjectIndex >= 0 && f.ObjectIndex < len(r.Objects) {
			k = caseKey{suite: suiteName(r.Objects[f.ObjectIndex].File), object: f.ObjectIndex}
		}
		c := addCase(k, f.Object.String())
		if r.FailOn.Fails(f.Severity) {
			failing[c] = append(failing[c], f)
		} else {
			passing[c] = append(passing[c], f)
		}
	}
	out := junitSuites{Name: "meshcert check"}
	for _, k := range caseOrder {
		c, s := cases[k], suites[k.suite]
		if fs := failing[c]; len(fs) > 0 {
			c.Failure = &junitFailure{Message: junitMessage(fs), Type: string(fs[0].Code), Body: junitBody(fs)}
			s.Failures++
		}
		if fs := passing[c]; len(fs) > 0 {
			c.SystemOut = junitBody(fs)
		}
		s.Cases = append(s.Cases, *c)
		s.Tests++
	}
	for _, name := range suiteOrder {
		s := suites[name]
		out.Suites = append(out.Suites, *s)
		out.Tests += s.Tests
		out.Failures += s.Failures
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("failed to write JUnit XML: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("failed to encode JUnit XML: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("failed to write JUnit XML: %w", err)
	}
	return nil
}

func suiteName(file string) string {
	if file == "" {
		return manifest.StdinName
	}
	return file
}

// junitMessage is the failure's one-line summary: the first finding, and
// how many more there are.
func junitMessage(fs []Finding) string {
	msg := string(fs[0].Code) + " " + fieldMessage(fs[0])
	if len(fs) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(fs)-1)
	}
	return msg
}

func junitBody(fs []Finding) string {
	lines := make([]string, len(fs))
	for i, f := range fs {
		lines[i] = textLine(f)
	}
	return strings.Join(lines, "\n")
}
