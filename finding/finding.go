// Package finding is meshcert's vocabulary for what it reports: stable
// codes, severities, the object and field a finding is about, and one
// builder every check uses. It decides nothing and imports no client,
// webhook or controller package; docs/findings.md is generated from Catalog.
package finding

import (
	"cmp"
	"slices"
)

// Severity says how much a finding matters: errors deny admission and fail
// `meshcert check`, warnings are printed, infos explain.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// ObjectRef names the object a finding is about.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// String renders the reference the way kubectl users read it: Kind ns/name.
func (r ObjectRef) String() string {
	name := r.Name
	if name == "" {
		// istioctl input files often carry no name.
		name = "(unnamed)"
	}
	if r.Namespace == "" {
		return r.Kind + " " + name
	}
	return r.Kind + " " + r.Namespace + "/" + name
}

// Finding is one result of a check. Code is stable and documented in
// docs/findings.md; Field is a field path such as
// spec.servers[0].tls.credentialName; Message says what is wrong and what to
// do about it.
type Finding struct {
	Severity Severity  `json:"severity"`
	Code     Code      `json:"code"`
	Object   ObjectRef `json:"object"`
	Field    string    `json:"field,omitempty"`
	Message  string    `json:"message"`
}

// Findings is a list of findings with helpers for the callers' decisions.
type Findings []Finding

// HasErrors reports whether any finding is an error.
func (fs Findings) HasErrors() bool {
	return slices.ContainsFunc(fs, func(f Finding) bool { return f.Severity == SeverityError })
}

// Sort orders findings by object, field, code and message so output is
// deterministic whatever order the checks ran in.
func (fs Findings) Sort() {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.Object.Namespace, b.Object.Namespace),
			cmp.Compare(a.Object.Kind, b.Object.Kind),
			cmp.Compare(a.Object.Name, b.Object.Name),
			cmp.Compare(a.Field, b.Field),
			cmp.Compare(a.Code, b.Code),
			cmp.Compare(a.Message, b.Message),
		)
	})
}
