// Package certs holds meshcert's decisions about Istio Gateways and
// cert-manager Certificates as plain functions: objects in; the injected
// credentials, the Certificates meshcert should own and the findings out.
// IstioOperators are decided in package istiooperator, on the same Lookup.
//
// Nothing here talks to a cluster. Everything the decisions need to know
// about other objects comes through the Lookup interface (lookup.go), which
// the offline CLI fills from its input files (offline.Index) and the server
// from informer caches (cluster.Lookup), so the webhook, the controller and
// the CLI can never disagree.
//
// File names say the step of PlanGateway (plan.go) they serve; the map
// below lists them in the order PlanGateway runs, with the finding families
// (docs/findings.md) each step reports:
//
//   - gateway.go, gateway_parse.go, gateway_fields.go: the Gateway read as
//     Istio reads it, unknown fields (MC2xxx);
//   - plan.go, annotation_issuer.go, annotation_certificate.go: managed or
//     not, the credential namespaces, and the issuer and Certificate
//     annotations (MC1xxx, MC4xxx), issuer references (MC5xxx);
//   - server_tls.go, server_ports.go, server_hosts.go, server_ciphers.go:
//     each server as Istio's validation judges it (MC2xxx);
//   - inject.go, inject_naming.go, inject_clientca.go: the credentialNames
//     and client CAs injected;
//   - certificate_desired.go, certificate_hosts.go,
//     certificate_validation.go, certificate_acme.go,
//     certificate_acmehttp01.go, certificate_acmehttproute.go: the desired
//     Certificates, as cert-manager validates and issues them, their ACME
//     solvers' Ingresses and HTTPRoutes included (MC3xxx, MC5xxx);
//   - credential_check.go, credential_ref.go, credential_secretowner.go,
//     credential_serving.go, credential_workloads.go: which Secret istiod
//     reads for each server, on which workload and port, and whose it is
//     (MC4xxx, MC8xxx);
//   - conflict_hosts.go, conflict_claims.go: hosts and credentials other
//     Gateways, and the Gateway API listeners istiod merges with them, hold
//     (MC3xxx, MC8xxx); conflict_managed.go: what a gateway istiod deploys
//     for a Gateway API Gateway lacks for an Istio Gateway merged onto it
//     (MC4011, MC4012);
//   - tenancy_policy.go, tenancy_check.go, tenancy_ownership.go: the
//     namespace's policy and what meshcert owns (MC8xxx).
//
// Around them: lookup.go and options.go are the planner's inputs, keys.go
// its annotation and label keys, trust.go reads trust bundles (client CAs
// and the IstioOperator's peer roots), shared.go is the cert-manager
// vocabulary the IstioOperator planner shares, and gatewayapi_shared.go
// what the gatewayapi package's checks of listeners share with these.
// CheckCertificate
// (certificate_check.go) judges a Certificate on its own, as the
// Certificate webhook and `meshcert check` do.
package certs
