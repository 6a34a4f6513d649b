package app

import (
	"fmt"
	"slices"

	"github.com/meshcert/meshcert/controller"
)

// gatewayAPICertificatesFlag is --gateway-api-certificates, refusing a
// value that is no mode.
type gatewayAPICertificatesFlag controller.GatewayAPICertificates

func (m *gatewayAPICertificatesFlag) String() string { return string(*m) }
func (m *gatewayAPICertificatesFlag) Type() string   { return "mode" }
func (m *gatewayAPICertificatesFlag) Set(v string) error {
	if !slices.Contains(controller.GatewayAPICertificatesModes, controller.GatewayAPICertificates(v)) {
		return fmt.Errorf("%q is not a Gateway API Certificates mode; use %q or %q", v, controller.GatewayAPICertificatesShim, controller.GatewayAPICertificatesMeshcert)
	}
	*m = gatewayAPICertificatesFlag(v)
	return nil
}

// gatewayAPICertificatesUsage is the flag's help.
const gatewayAPICertificatesUsage = "who writes the Certificates of Gateway API Gateways and ListenerSets: shim (cert-manager's gateway-shim; meshcert reports their errors as Events and writes nothing) or meshcert (exactly the Certificates the shim would, for a cert-manager run without Gateway API support)"
