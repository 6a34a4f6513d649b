package certs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
)

// TestTargetPortIsRefusedAsIstioRefusesIt: Istio's validatePort rejects a
// Gateway server's port with targetPort > 0 ("targetPort has no impact on
// Gateways"); 0 and null pass.
func TestTargetPortIsRefusedAsIstioRefusesIt(t *testing.T) {
	tests := []struct {
		name       string
		targetPort any
		want       []string
	}{
		{name: "a targetPort is refused at the field", targetPort: int64(8443), want: []string{"error MC2013 spec.servers[0].port.targetPort"}},
		{name: "a targetPort of 0 passes, as in Istio", targetPort: int64(0)},
		{name: "a null targetPort passes", targetPort: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := certs.ParseGateway(buildGateway(t, server(0, func(s map[string]any) {
				s["port"].(map[string]any)["targetPort"] = tt.targetPort
			})))
			plan := certs.PlanGateway(t.Context(), gw, indexOf(t, cluster), cliOptions())
			var got finding.Findings
			for _, f := range plan.Findings {
				if f.Code == finding.CodeInvalidServerPort {
					got = append(got, f)
				}
			}
			assert.Equal(t, tt.want, summaryOrNil(got))
		})
	}
}

func summaryOrNil(fs finding.Findings) []string {
	if len(fs) == 0 {
		return nil
	}
	return summary(fs)
}
