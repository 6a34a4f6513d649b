package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/meshcert/meshcert/finding"
)

// FuzzWrite feeds every format names, fields, messages and paths of any
// bytes: SARIF and JSON must stay JSON, JUnit must stay XML a parser reads,
// and text and GitHub output one line per finding.
func FuzzWrite(f *testing.F) {
	f.Add("web", "spec.servers[0]", "100% a:b, c\nd\re", "deploy/gw.yaml", 3, 7)
	f.Add("", "", "", "", 0, 0)
	f.Add("x\x00y", "]]>", "<![CDATA[ & ]]>", "/abs/ü.yaml", -1, -1)
	f.Fuzz(func(t *testing.T, name, field, message, file string, line, column int) {
		ref := finding.ObjectRef{APIVersion: "networking.istio.io/v1", Kind: "Gateway", Namespace: name, Name: name}
		r := &Report{
			Objects: []Object{{Ref: ref, File: file, Line: line}},
			Findings: []Finding{
				{Finding: finding.Finding{Severity: finding.SeverityError, Code: finding.CodeHostConflict, Object: ref, Field: field, Message: message}, File: file, Line: line, Column: column, ObjectIndex: 0},
				{Finding: finding.Finding{Severity: finding.SeverityWarning, Code: finding.CodeHostNotCovered, Object: ref, Field: field, Message: message}, ObjectIndex: -1},
			},
			FailOn: FailOnError,
		}
		for _, format := range Formats {
			var buf bytes.Buffer
			if err := Write(&buf, format, r); err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			out := buf.Bytes()
			switch format {
			case JSON, SARIF:
				if !json.Valid(out) {
					t.Fatalf("%s output is not JSON: %q", format, out)
				}
			case JUnit:
				var v junitSuites
				if err := xml.Unmarshal(out, &v); err != nil {
					t.Fatalf("JUnit output does not parse: %v\n%s", err, out)
				}
				if v.Tests != 2 || v.Failures != 1 {
					t.Fatalf("JUnit counts %d tests, %d failures; want 2, 1", v.Tests, v.Failures)
				}
			case GitHub:
				if n := strings.Count(string(out), "\n"); n != len(r.Findings) || strings.ContainsRune(string(out), '\r') {
					t.Fatalf("GitHub output is not one line per finding: %q", out)
				}
			case Text:
				// Text prints messages as they are; nothing to hold it to.
			}
		}
	})
}
