package certs

import (
	"fmt"

	"github.com/meshcert/meshcert/finding"
)

// summary renders findings as "severity code field" lines, which is what
// table tests compare; messages are checked separately where they matter.
func summary(fs finding.Findings) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s", f.Severity, f.Code, f.Field))
	}
	return out
}
