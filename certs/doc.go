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
// The map, in the order PlanGateway (plan.go) runs, with the finding
// families (docs/findings.md) each step reports:
//
//   - parse.go, fields.go: the Gateway read as Istio reads it, unknown
//     fields (MC2xxx);
//   - plan.go: managed or not, and the credential namespaces (MC1003,
//     MC4xxx), from annotations.go and issuer.go (MC1xxx, MC5xxx);
//   - tls.go, ports.go, istiohosts.go, ciphers.go: each server as Istio's
//     validation judges it (MC2xxx);
//   - inject.go, naming.go, clientca.go: the credentialNames and client CAs
//     injected;
//   - certificates.go, certificate.go, certificatevalidation.go, acme.go,
//     acmehttp01.go: the desired Certificates, as cert-manager validates and
//     issues them (MC3xxx, MC5xxx);
//   - credentials.go, credentialref.go, secretowner.go, serving.go,
//     workloads.go: which Secret istiod reads for each server, on which
//     workload and port, and whose it is (MC4xxx, MC8xxx);
//   - conflicts.go, claims.go: hosts and credentials other Gateways hold
//     (MC3xxx, MC8xxx);
//   - policy.go, policycheck.go, ownership.go: the namespace's policy and
//     what meshcert owns (MC8xxx).
//
// CheckCertificate (certificate.go) judges a Certificate on its own, as the
// Certificate webhook and `meshcert check` do; shared.go is the
// cert-manager vocabulary the IstioOperator planner shares.
package certs
