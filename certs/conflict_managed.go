package certs

import (
	"context"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/finding"
)

// checkManagedGateways reports what keeps an Istio Gateway merged onto a
// gateway istiod deploys for a Gateway API Gateway (beside.Managed) from
// being served there, though istiod merges it:
//   - a server port the gateway's Service does not expose: istiod makes
//     that Service with the listeners' ports and the status port only, and
//     keeps it so (extractServicePorts), so traffic never reaches it
//     (MC4011);
//   - a credentialName Secret: istiod serves one only to a gateway whose
//     ServiceAccount may list Secrets in its namespace (sds.go's
//     filterAuthorizedResources), which Istio's gateway Helm chart grants
//     and istiod's gateway template does not (MC4012).
func checkManagedGateways(_ context.Context, b *finding.Builder, gw *Gateway, beside Beside, credentials [][]string) {
	for _, m := range beside.Managed {
		name := m.Namespace + "/" + m.Name
		for i, srv := range gw.Servers {
			if srv.HasPort && srv.Port.Number != 0 && !slices.Contains(m.Ports, srv.Port.Number) {
				b.Warningf(finding.CodePortNotOnService, serverPath(srv.Index).Child("port", "number"),
					"the Service istiod deploys for Gateway API Gateway %s, where this Gateway is merged, exposes only its listeners' ports and the status port 15021, and istiod keeps it so: traffic never reaches port %d; add a listener on port %d to that Gateway, or serve this host from one",
					name, srv.Port.Number, srv.Port.Number)
			}
			if srv.TLS == nil || srv.TLS.passesThrough() {
				continue
			}
			for _, c := range credentials[i] {
				ref := ResolveCredential(c, m.Namespace, gw.Namespace)
				if !ref.IsSecret() || ref.CAOnly || ref.External || !ref.Served || strings.HasPrefix(ref.Resource, schemeKubernetesGateway) {
					continue
				}
				b.Warningf(finding.CodeCredentialNeedsSecretAccess, credentialPath(srv),
					"istiod serves Secret %q to the gateway istiod deploys for Gateway API Gateway %s only if its ServiceAccount %q may list Secrets in %q, which Istio's gateway Helm chart grants and istiod's gateway template does not: bind it a Role that may list Secrets there, or serve this host from a listener of that Gateway",
					ref.Name, name, m.ServiceAccount, m.Namespace)
				break
			}
		}
	}
}

// credentialPath is where a server names its credential.
func credentialPath(srv Server) *field.Path {
	if len(srv.TLS.CredentialNames) > 0 {
		return tlsPath(srv.Index, "credentialNames")
	}
	return tlsPath(srv.Index, "credentialName")
}
