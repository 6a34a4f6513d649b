package webhook

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/meshcert/meshcert/finding"
)

func TestShortWarning(t *testing.T) {
	long := strings.Repeat("word ", 40)
	tests := []struct {
		name    string
		finding finding.Finding
		want    string
	}{
		{
			name:    "a short finding is code, field and message",
			finding: finding.Finding{Code: "MC5002", Field: "spec.issuerRef", Message: `ClusterIssuer "ca" not found`},
			want:    `MC5002 spec.issuerRef: ClusterIssuer "ca" not found`,
		},
		{
			name:    "a finding without field is code and message",
			finding: finding.Finding{Code: "MC2001", Message: "no server"},
			want:    "MC2001 no server",
		},
		{
			name:    "an annotation field is shown as its key",
			finding: finding.Finding{Code: "MC5003", Field: "metadata.annotations[cert-manager.io/issuer]", Message: `Issuer "x" is elsewhere`},
			want:    `MC5003 cert-manager.io/issuer: Issuer "x" is elsewhere`,
		},
		{
			name:    "a long message is cut at a word boundary and marked",
			finding: finding.Finding{Code: "MC4001", Field: "spec.x", Message: long},
			want:    "MC4001 spec.x: " + strings.TrimSpace(strings.Repeat("word ", 20)) + "…",
		},
		{
			name:    "punctuation before the cut is dropped",
			finding: finding.Finding{Code: "MC4001", Field: "spec.x", Message: strings.Repeat("abcdefghi ", 9) + "abcdefg; tailtail"},
			want:    "MC4001 spec.x: " + strings.Repeat("abcdefghi ", 9) + "abcdefg…",
		},
		{
			name:    "a message without spaces is cut at the limit",
			finding: finding.Finding{Code: "MC4001", Message: strings.Repeat("x", 200)},
			want:    "MC4001 " + strings.Repeat("x", MaxWarningLength-len("MC4001 ")-1) + "…",
		},
		{
			name:    "multi-byte characters count as one",
			finding: finding.Finding{Code: "MC4001", Message: strings.Repeat("é", 112)},
			want:    "MC4001 " + strings.Repeat("é", 112),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ShortWarning(tc.finding)
			assert.Equal(t, tc.want, got)
			assert.LessOrEqual(t, utf8.RuneCountInString(got), MaxWarningLength)
			assert.True(t, utf8.ValidString(got))
		})
	}
}

func TestDenialLine(t *testing.T) {
	assert.Equal(t, "spec.x: bad (MC2007)", denialLine(finding.Finding{Code: "MC2007", Field: "spec.x", Message: "bad"}))
	assert.Equal(t, "bad (MC2007)", denialLine(finding.Finding{Code: "MC2007", Message: "bad"}))
}

func TestJudge(t *testing.T) {
	findings := finding.Findings{
		{Severity: finding.SeverityError, Code: "MC2007", Field: "spec.a", Message: "first"},
		{Severity: finding.SeverityWarning, Code: "MC4001", Field: "spec.b", Message: "careful"},
		{Severity: finding.SeverityInfo, Code: "MC2006", Field: "spec.c", Message: "fyi"},
		{Severity: finding.SeverityError, Code: "MC2002", Field: "spec.d", Message: "second"},
	}
	d := judge(findings)
	assert.Equal(t, ResultDenied, d.result)
	assert.False(t, d.response.Allowed)
	assert.Equal(t, "spec.a: first (MC2007); spec.d: second (MC2002)", d.response.Result.Message)
	assert.Equal(t, []string{"MC4001 spec.b: careful"}, d.response.Warnings)
	assert.Len(t, d.response.Result.Details.Causes, 2)
	assert.Equal(t, "spec.d", d.response.Result.Details.Causes[1].Field)

	d = judge(findings[1:3])
	assert.Equal(t, ResultAllowed, d.result)
	assert.True(t, d.response.Allowed)
	assert.Equal(t, []string{"MC4001 spec.b: careful"}, d.response.Warnings, "infos are not returned")
}

func TestTruncateWordsCutsAtASpaceOnlyInTheSecondHalf(t *testing.T) {
	// The kept part is 118 characters; its last space is exactly in the
	// middle (index 59), so cutting there would lose half the text.
	s := strings.Repeat("a", 59) + " " + strings.Repeat("b", 100)
	assert.Equal(t, strings.Repeat("a", 59)+" "+strings.Repeat("b", 58)+"…", truncateWords(s, MaxWarningLength))
	// One character later, the space is in the second half: cut there.
	s = strings.Repeat("a", 60) + " " + strings.Repeat("b", 100)
	assert.Equal(t, strings.Repeat("a", 60)+"…", truncateWords(s, MaxWarningLength))
}
