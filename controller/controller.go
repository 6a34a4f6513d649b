// Package controller is meshcert's Certificate controller: for every Istio
// Gateway it asks the planner which Certificates the Gateway needs and makes
// the cluster hold exactly those, creating, updating and deleting only
// Certificates meshcert created. All decisions are the planner's; this
// package reads caches and writes.
package controller

import (
	"fmt"

	"github.com/meshcert/meshcert/finding"
)

// FieldManager is the field manager of every write meshcert makes.
const FieldManager = "meshcert"

// Event reasons on the source object (a Gateway, an IstioOperator),
// matching cert-manager's shim where they mean the same.
const (
	ReasonCreateCertificate = "CreateCertificate"
	ReasonUpdateCertificate = "UpdateCertificate"
	ReasonDeleteCertificate = "DeleteCertificate"
	ReasonBadConfig         = "BadConfig"
	// ReasonWebhookBypassed: the Gateway was stored without the
	// credentialName the mutating webhook would have injected.
	ReasonWebhookBypassed = "WebhookBypassed"
	// ReasonOutsidePolicy: the namespace's policy forbids a host or
	// issuer of the Gateway, so it gets no Certificate.
	ReasonOutsidePolicy = "OutsidePolicy"
)

// errorMessages words a plan's error findings for a Warning Event.
func errorMessages(fs finding.Findings) []string {
	var out []string
	for _, f := range fs {
		if f.Severity == finding.SeverityError {
			out = append(out, fmt.Sprintf("%s %s: %s", f.Code, f.Field, f.Message))
		}
	}
	return out
}
