package webhook

import (
	"strings"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshcert/meshcert/finding"
)

// MaxWarningLength is the longest admission warning meshcert returns, in
// characters: Kubernetes asks webhooks to keep warnings under 120.
const MaxWarningLength = 119

// judge turns findings into an answer: any error denies, listing every
// error in full; warnings come back as short admission warnings, with a
// denial too; infos are not returned.
func judge(findings finding.Findings) decision {
	var errs []string
	var causes []metav1.StatusCause
	var warnings []string
	for _, f := range findings {
		switch f.Severity {
		case finding.SeverityError:
			errs = append(errs, denialLine(f))
			causes = append(causes, metav1.StatusCause{
				Type: metav1.CauseTypeFieldValueInvalid, Field: f.Field, Message: f.Message + " (" + string(f.Code) + ")",
			})
		case finding.SeverityWarning:
			warnings = append(warnings, ShortWarning(f))
		default:
		}
	}
	if len(errs) == 0 {
		return decision{response: admission.Allowed("").WithWarnings(warnings...), result: ResultAllowed, findings: findings}
	}
	resp := admission.Denied(strings.Join(errs, "; ")).WithWarnings(warnings...)
	resp.Result.Details = &metav1.StatusDetails{Causes: causes}
	return decision{response: resp, result: ResultDenied, findings: findings}
}

// denialLine is one error of a denial, in full: "<field>: <message> (<code>)".
func denialLine(f finding.Finding) string {
	if f.Field == "" {
		return f.Message + " (" + string(f.Code) + ")"
	}
	return f.Field + ": " + f.Message + " (" + string(f.Code) + ")"
}

// ShortWarning renders a finding as an admission warning of at most
// MaxWarningLength characters: "<code> <field>: <message>", the message cut
// at a word boundary and marked with "…" when it does not fit. Messages say
// what is wrong before what to do, so the cut loses the least useful words;
// the code finds the full explanation in docs/findings.md. An annotation's
// field is shown as its key alone, to leave room for the message.
func ShortWarning(f finding.Finding) string {
	var b strings.Builder
	b.WriteString(string(f.Code))
	b.WriteByte(' ')
	if f.Field != "" {
		b.WriteString(shortField(f.Field))
		b.WriteString(": ")
	}
	b.WriteString(f.Message)
	return truncateWords(b.String(), MaxWarningLength)
}

// shortField shows metadata.annotations[key] as key; annotation keys such
// as cert-manager.io/issuer say what they are.
func shortField(field string) string {
	const prefix = "metadata.annotations["
	if strings.HasPrefix(field, prefix) && strings.HasSuffix(field, "]") {
		return field[len(prefix) : len(field)-1]
	}
	return field
}

// truncateWords shortens s to at most limit characters, cutting at the last
// space that keeps at least half of it and appending "…".
func truncateWords(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	// Room for the ellipsis.
	keep := limit - 1
	cut := s
	for i := range s {
		if keep == 0 {
			cut = s[:i]
			break
		}
		keep--
	}
	if i := strings.LastIndexByte(cut, ' '); i > len(cut)/2 {
		cut = cut[:i]
	}
	cut = strings.TrimRight(cut, " ,;:(")
	return cut + "…"
}
