package report

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/manifest"
)

const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	// ProjectURL is meshcert's home, the SARIF tool's informationUri.
	ProjectURL = "https://github.com/meshcert/meshcert"
	// FindingsDocURL is docs/findings.md as published; each code has a
	// section anchored by its lower-case code.
	FindingsDocURL = ProjectURL + "/blob/main/docs/findings.md"
	// FingerprintKey names meshcert's partial fingerprint in SARIF results;
	// the /v1 suffix changes if the recipe ever does, as SARIF asks.
	FingerprintKey = "meshcertFinding/v1"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool       sarifTool     `json:"tool"`
	Results    []sarifResult `json:"results"`
	ColumnKind string        `json:"columnKind"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string             `json:"id"`
	Name                 string             `json:"name"`
	ShortDescription     sarifText          `json:"shortDescription"`
	FullDescription      sarifText          `json:"fullDescription"`
	Help                 sarifText          `json:"help"`
	HelpURI              string             `json:"helpUri"`
	DefaultConfiguration sarifConfiguration `json:"defaultConfiguration"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifConfiguration struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysicalLocation `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogicalLocation `json:"logicalLocations"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           *sarifRegion          `json:"region,omitempty"`
}

type sarifArtifactLocation struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

type sarifLogicalLocation struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// writeSARIF writes one run whose rules are the whole findings catalog, so
// a rule's index never depends on what was found.
func writeSARIF(w io.Writer, r *Report) error {
	rules := make([]sarifRule, len(finding.Catalog))
	ruleIndex := make(map[finding.Code]int, len(finding.Catalog))
	for i, info := range finding.Catalog {
		rules[i] = sarifRuleOf(info)
		ruleIndex[info.Code] = i
	}
	results := make([]sarifResult, 0, len(r.Findings))
	seen := map[string]int{}
	for _, f := range r.Findings {
		index, ok := ruleIndex[f.Code]
		if !ok {
			return fmt.Errorf("failed to write SARIF: finding code %s is not in the catalog", f.Code)
		}
		// Findings with the same key (code, object, field) are told apart
		// by their order, as GitHub's own line-hash fingerprints are.
		key := fingerprint(f.Finding)
		seen[key]++
		results = append(results, sarifResult{
			RuleID:              string(f.Code),
			RuleIndex:           index,
			Level:               sarifLevel(f.Severity),
			Message:             sarifText{Text: f.Object.String() + ": " + fieldMessage(f)},
			Locations:           []sarifLocation{sarifLocationOf(f)},
			PartialFingerprints: map[string]string{FingerprintKey: key + ":" + strconv.Itoa(seen[key])},
		})
	}
	log := sarifLog{
		Schema:  sarifSchema,
		Version: sarifVersion,
		Runs: []sarifRun{{
			Tool:       sarifTool{Driver: sarifDriver{Name: "meshcert", Version: toolVersion(r.Version), InformationURI: ProjectURL, Rules: rules}},
			Results:    results,
			ColumnKind: "unicodeCodePoints",
		}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(log); err != nil {
		return fmt.Errorf("failed to encode SARIF: %w", err)
	}
	return nil
}

func sarifRuleOf(info finding.CodeInfo) sarifRule {
	full := info.Summary
	if info.Note != "" {
		full += " " + info.Note
	}
	helpURI := FindingsDocURL + "#" + strings.ToLower(string(info.Code))
	return sarifRule{
		ID:               string(info.Code),
		Name:             pascalCase(info.Name),
		ShortDescription: sarifText{Text: info.Summary},
		FullDescription:  sarifText{Text: full},
		Help: sarifText{
			Text:     full + " See " + helpURI + ".",
			Markdown: full + "\n\nSee [" + string(info.Code) + " in meshcert's findings](" + helpURI + ").",
		},
		HelpURI:              helpURI,
		DefaultConfiguration: sarifConfiguration{Level: sarifLevel(info.Severity)},
	}
}

// toolVersion is meshcert's version as SARIF consumers compare versions:
// starting with a number. A release tag loses its "v"; a build between
// releases (a commit, "dev") is 0.0.0-<it>, as Go writes pseudo-versions.
func toolVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	if v == "" || v[0] < '0' || v[0] > '9' {
		return "0.0.0-" + cmp.Or(v, "dev")
	}
	return v
}

// pascalCase writes a Go name's acronyms as words ("UnknownTLSMode" →
// "UnknownTlsMode"), the Pascal case SARIF asks of a rule's friendly name.
func pascalCase(name string) string {
	runes := []rune(name)
	out := make([]rune, 0, len(runes))
	for i, r := range runes {
		upperBefore := i > 0 && unicode.IsUpper(runes[i-1])
		lowerAfter := i+1 < len(runes) && unicode.IsLower(runes[i+1])
		if unicode.IsUpper(r) && upperBefore && !lowerAfter {
			r = unicode.ToLower(r)
		}
		out = append(out, r)
	}
	return string(out)
}

func sarifLevel(s finding.Severity) string {
	switch s {
	case finding.SeverityError:
		return "error"
	case finding.SeverityWarning:
		return "warning"
	default:
		return "note"
	}
}

func sarifLocationOf(f Finding) sarifLocation {
	loc := sarifLocation{LogicalLocations: []sarifLogicalLocation{{
		Name:               f.Object.Name,
		FullyQualifiedName: f.Object.String(),
		Kind:               "resource",
	}}}
	if f.File == "" || f.File == manifest.StdinName {
		return loc
	}
	phys := &sarifPhysicalLocation{ArtifactLocation: sarifArtifactLocation{URI: artifactURI(f.File)}}
	if f.Line > 0 {
		phys.Region = &sarifRegion{StartLine: f.Line, StartColumn: f.Column}
	}
	loc.PhysicalLocation = phys
	return loc
}

// artifactURI turns a path as the user gave it into a URI reference:
// relative paths stay relative (code scanning resolves them against the
// checkout, so run meshcert from its root), absolute ones become file URIs.
func artifactURI(p string) string {
	if filepath.IsAbs(p) {
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String()
	}
	// A colon in the first segment would read as a scheme: url.URL writes
	// such a path as ./c:d.yaml.
	return (&url.URL{Path: cleanPath(p)}).String()
}

// cleanPath is a relative path as a repository names its files: slashes,
// no ./ and no a/../ detours.
func cleanPath(p string) string {
	return strings.TrimPrefix(path.Clean(filepath.ToSlash(p)), "./")
}

// fingerprint identifies a finding across commits: its code, the object
// (group, kind, namespace, name) and the field, never its line, which moves
// whenever lines are added above it.
func fingerprint(f finding.Finding) string {
	group := ""
	if g, _, ok := strings.Cut(f.Object.APIVersion, "/"); ok {
		group = g
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{
		string(f.Code), group, f.Object.Kind, f.Object.Namespace, f.Object.Name, f.Field,
	}, "\x00")))
	return hex.EncodeToString(sum[:16])
}
