package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/finding"
)

var updateGolden = os.Getenv("UPDATE_GOLDEN") != ""

var (
	gateway = finding.ObjectRef{APIVersion: "networking.istio.io/v1", Kind: "Gateway", Namespace: "team-a", Name: "web"}
	cert    = finding.ObjectRef{APIVersion: "cert-manager.io/v1", Kind: "Certificate", Namespace: "istio-system", Name: "web-tls"}
	stdinGW = finding.ObjectRef{APIVersion: "networking.istio.io/v1", Kind: "Gateway", Namespace: "default", Name: "piped"}
)

// sample is a run over three files and stdin, with messages holding every
// character the formats must escape.
func sample(failOn Threshold) *Report {
	return &Report{
		Version: "v1.2.3",
		FailOn:  failOn,
		Objects: []Object{
			{Ref: gateway, File: "deploy/gateway.yaml", Line: 1},
			{Ref: cert, File: "deploy/gateway.yaml", Line: 20},
			{Ref: finding.ObjectRef{APIVersion: "v1", Kind: "Namespace", Name: "team-a"}, File: "/abs/dir with space/ns.yaml", Line: 1},
			{Ref: stdinGW, File: "<stdin>", Line: 1},
		},
		Findings: []Finding{
			{Finding: finding.Finding{Severity: finding.SeverityError, Code: finding.CodeIstioMutualWithCredential, Object: gateway, Field: "spec.servers[0].tls.credentialName",
				Message: "ISTIO_MUTUAL takes no credential: remove credentialName, or use mode SIMPLE."}, File: "deploy/gateway.yaml", Line: 12, Column: 7, ObjectIndex: 0},
			{Finding: finding.Finding{Severity: finding.SeverityWarning, Code: finding.CodeHostNotCovered, Object: gateway, Field: "spec.servers[1].hosts[0]",
				Message: "100% of hosts: a, b\nsecond line\r with <xml> & \"quotes\"."}, File: "deploy/gateway.yaml", Line: 15, Column: 9, ObjectIndex: 0},
			{Finding: finding.Finding{Severity: finding.SeverityWarning, Code: finding.CodeHostNotCovered, Object: gateway, Field: "spec.servers[1].hosts[0]",
				Message: "the same key again, told apart by its order."}, File: "deploy/gateway.yaml", Line: 15, Column: 9, ObjectIndex: 0},
			{Finding: finding.Finding{Severity: finding.SeverityInfo, Code: finding.CodeFileCertificate, Object: cert,
				Message: "control \x01 character."}, File: "deploy/gateway.yaml", Line: 20, ObjectIndex: 1},
			{Finding: finding.Finding{Severity: finding.SeverityError, Code: finding.CodeInvalidCredentialName, Object: stdinGW, Field: "spec.servers[0].tls.credentialName",
				Message: "not a Secret name."}, File: "<stdin>", Line: 9, Column: 7, ObjectIndex: 3},
			{Finding: finding.Finding{Severity: finding.SeverityWarning, Code: finding.CodeOrphanCertificate, Object: finding.ObjectRef{APIVersion: "cert-manager.io/v1", Kind: "Certificate", Namespace: "x", Name: "y"},
				Message: "about no object of the input."}, ObjectIndex: -1},
		},
	}
}

func TestWriteGolden(t *testing.T) {
	tests := map[string]struct {
		format Format
		failOn Threshold
		golden string
	}{
		"text is one line per finding":                       {Text, FailOnError, "report.txt"},
		"json lists the findings with file, line and column": {JSON, FailOnError, "report.json"},
		"sarif is one run with the whole catalog as rules":   {SARIF, FailOnError, "report.sarif"},
		"junit fails the objects with errors":                {JUnit, FailOnError, "report.xml"},
		"junit with --fail-on warning fails warnings too":    {JUnit, FailOnWarning, "report-fail-on-warning.xml"},
		"github prints one workflow command per finding":     {GitHub, FailOnError, "report.github"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, Write(&buf, tc.format, sample(tc.failOn)))
			path := filepath.Join("testdata", tc.golden)
			if updateGolden {
				require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run with UPDATE_GOLDEN=1 to create it")
			assert.Equal(t, string(want), buf.String())
		})
	}
}

func TestThresholds(t *testing.T) {
	tests := map[string]struct {
		threshold Threshold
		severity  finding.Severity
		fails     bool
	}{
		"error fails on an error":          {FailOnError, finding.SeverityError, true},
		"error lets a warning pass":        {FailOnError, finding.SeverityWarning, false},
		"warning fails on a warning":       {FailOnWarning, finding.SeverityWarning, true},
		"warning fails on an error":        {FailOnWarning, finding.SeverityError, true},
		"warning lets an info pass":        {FailOnWarning, finding.SeverityInfo, false},
		"never lets an error pass":         {FailOnNever, finding.SeverityError, false},
		"an unknown threshold fails never": {Threshold("sometimes"), finding.SeverityError, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.fails, tc.threshold.Fails(tc.severity))
		})
	}
	assert.True(t, sample(FailOnError).Failed())
	assert.False(t, sample(FailOnNever).Failed())
}

func TestSARIFRulesLinkToTheirSectionOfTheFindingsPage(t *testing.T) {
	doc, err := os.ReadFile("../docs/findings.md")
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, SARIF, sample(FailOnError)))
	var log struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID      string `json:"id"`
						HelpURI string `json:"helpUri"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID              string            `json:"ruleId"`
				RuleIndex           int               `json:"ruleIndex"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	require.NoError(t, json.Unmarshal(buf.Bytes(), &log))
	require.Len(t, log.Runs, 1)
	rules := log.Runs[0].Tool.Driver.Rules
	require.Len(t, rules, len(finding.Catalog), "every code of the catalog is a rule")
	for _, r := range rules {
		anchor := strings.TrimPrefix(r.HelpURI, FindingsDocURL+"#")
		assert.Equal(t, strings.ToLower(r.ID), anchor)
		assert.Regexp(t, `(?m)^## `+r.ID+`$`, string(doc), "docs/findings.md has a section for %s", r.ID)
	}
	fingerprints := map[string]bool{}
	for _, res := range log.Runs[0].Results {
		assert.Equal(t, res.RuleID, rules[res.RuleIndex].ID)
		fp := res.PartialFingerprints[FingerprintKey]
		assert.False(t, fingerprints[fp], "fingerprint %s is unique", fp)
		fingerprints[fp] = true
	}
}

func TestSARIFFingerprintsIgnoreLinesAndMessages(t *testing.T) {
	f := finding.Finding{Code: finding.CodeHostNotCovered, Object: gateway, Field: "spec.servers[0].hosts[0]", Message: "a"}
	moved := f
	moved.Message = "b"
	assert.Equal(t, fingerprint(f), fingerprint(moved), "a reworded message is the same finding")
	otherVersion := f
	otherVersion.Object.APIVersion = "networking.istio.io/v1beta1"
	assert.Equal(t, fingerprint(f), fingerprint(otherVersion), "the same object through another version is the same finding")
	for name, change := range map[string]func(*finding.Finding){
		"another code":      func(f *finding.Finding) { f.Code = finding.CodeHostConflict },
		"another field":     func(f *finding.Finding) { f.Field = "spec.servers[1].hosts[0]" },
		"another namespace": func(f *finding.Finding) { f.Object.Namespace = "team-b" },
		"another name":      func(f *finding.Finding) { f.Object.Name = "api" },
		"another kind":      func(f *finding.Finding) { f.Object.Kind = "Certificate" },
	} {
		other := f
		change(&other)
		assert.NotEqual(t, fingerprint(f), fingerprint(other), name)
	}
}

func TestArtifactURI(t *testing.T) {
	for in, want := range map[string]string{
		"deploy/gw.yaml":           "deploy/gw.yaml",
		"./deploy//gw.yaml":        "deploy/gw.yaml",
		"../other/gw.yaml":         "../other/gw.yaml",
		"dir with space/a#b%.yaml": "dir%20with%20space/a%23b%25.yaml",
		"c:d.yaml":                 "./c:d.yaml",
		"/abs/gw.yaml":             "file:///abs/gw.yaml",
	} {
		assert.Equal(t, want, artifactURI(in), in)
	}
}

func TestJUnitIsWellFormedAndCountsAgree(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, JUnit, sample(FailOnError)))
	var got junitSuites
	require.NoError(t, xml.Unmarshal(buf.Bytes(), &got))
	names := []string{}
	tests, failures := 0, 0
	for _, s := range got.Suites {
		names = append(names, s.Name)
		assert.Len(t, s.Cases, s.Tests)
		failed := 0
		for _, c := range s.Cases {
			if c.Failure != nil {
				failed++
			}
		}
		assert.Equal(t, failed, s.Failures, s.Name)
		tests += s.Tests
		failures += s.Failures
	}
	assert.Equal(t, []string{"deploy/gateway.yaml", "/abs/dir with space/ns.yaml", "<stdin>", "meshcert"}, names)
	assert.Equal(t, 5, tests, "one case per object, and one for the finding about no object")
	assert.Equal(t, tests, got.Tests)
	assert.Equal(t, 2, failures, "the Gateway of the file and the one from stdin have errors")
	assert.Equal(t, failures, got.Failures)
}

func TestUnknownFormat(t *testing.T) {
	err := Write(&bytes.Buffer{}, Format("yaml"), sample(FailOnError))
	require.ErrorContains(t, err, `unknown output format "yaml": use text, json, sarif, junit or github`)
}

func TestPascalCase(t *testing.T) {
	for in, want := range map[string]string{
		"UnknownTLSMode":         "UnknownTlsMode",
		"TLSOnPlainTextPort":     "TlsOnPlainTextPort",
		"ACMEWildcardNeedsDNS01": "AcmeWildcardNeedsDns01",
		"ACMEIssuerForCA":        "AcmeIssuerForCa",
		"CACertsNotOwned":        "CaCertsNotOwned",
		"APIServerRejects":       "ApiServerRejects",
		"HostConflict":           "HostConflict",
	} {
		assert.Equal(t, want, pascalCase(in), in)
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ünïcode and spaces": "plain text, ünïcode and spaces",
		"two\nlines":                     `two\nlines`,
		"carriage\rreturn":               `carriage\rreturn`,
		"\x1b[31mred":                    `\x1b[31mred`,
		"bell\x07":                       `bell\a`,
		"zero\u200bwidth":                `zero\u200bwidth`,
		"bad \xff byte":                  `bad \xff byte`,
		"tab\there":                      `tab\there`,
	} {
		assert.Equal(t, want, Printable(in), "%q", in)
	}
}

func TestTextCannotBeSplitIntoACommand(t *testing.T) {
	injected := finding.ObjectRef{APIVersion: "networking.istio.io/v1", Kind: "Gateway", Namespace: "a", Name: "x\n::error file=pwned.yaml::INJECTED"}
	r := &Report{Findings: []Finding{
		{Finding: finding.Finding{Severity: finding.SeverityError, Code: finding.CodeHostConflict, Object: injected, Message: "m\x1b[2J"}, File: "gw.yaml", Line: 1},
		{Finding: finding.Finding{Severity: finding.SeverityError, Code: finding.CodeHostConflict, Object: gateway, Message: "m"}, File: "::error file=x::y.yaml", Line: 2},
	}}
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, Text, r))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 2, "one line per finding: %q", buf.String())
	for _, l := range lines {
		assert.False(t, strings.HasPrefix(strings.TrimSpace(l), "::"), "%q", l)
		assert.NotContains(t, l, "\x1b")
	}
	assert.Equal(t, "./::error file=x::y.yaml:2: error MC3003 Gateway team-a/web: m", lines[1])
}

func TestToolVersionStartsWithANumber(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":        "1.2.3",
		"1.2.3":         "1.2.3",
		"e66cc9f":       "0.0.0-e66cc9f",
		"3040977-dirty": "3040977-dirty",
		"v0.1.0-3-gabc": "0.1.0-3-gabc",
		"dev":           "0.0.0-dev",
		"":              "0.0.0-dev",
	} {
		assert.Equal(t, want, toolVersion(in), in)
	}
}
