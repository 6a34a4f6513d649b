package finding

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Builder collects the findings of the checks on one object, so every check
// builds a Finding the same way: severity, code, field path, message.
// The zero value needs an Object before use; New sets it.
type Builder struct {
	Object   ObjectRef
	findings Findings
}

// New returns a Builder for findings about object.
func New(object ObjectRef) *Builder {
	return &Builder{Object: object}
}

// Addf records a finding at path (nil: the whole object) with a message
// formatted like fmt.Sprintf.
func (b *Builder) Addf(sev Severity, code Code, path *field.Path, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	b.findings = append(b.findings, Finding{Severity: sev, Code: code, Object: b.Object, Field: pathString(path), Message: msg})
}

// Errorf records an error finding.
func (b *Builder) Errorf(code Code, path *field.Path, format string, args ...any) {
	b.Addf(SeverityError, code, path, format, args...)
}

// Warningf records a warning finding.
func (b *Builder) Warningf(code Code, path *field.Path, format string, args ...any) {
	b.Addf(SeverityWarning, code, path, format, args...)
}

// Infof records an info finding.
func (b *Builder) Infof(code Code, path *field.Path, format string, args ...any) {
	b.Addf(SeverityInfo, code, path, format, args...)
}

// Append adds findings made elsewhere, such as by a nested check.
func (b *Builder) Append(fs ...Finding) {
	b.findings = append(b.findings, fs...)
}

// Len is the number of findings so far.
func (b *Builder) Len() int { return len(b.findings) }

// Findings returns what was collected.
func (b *Builder) Findings() Findings { return b.findings }

func pathString(p *field.Path) string {
	if p == nil {
		return ""
	}
	return p.String()
}
