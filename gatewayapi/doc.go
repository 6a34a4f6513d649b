// Package gatewayapi holds meshcert's decisions about Kubernetes Gateway API
// Gateways and ListenerSets as plain functions, beside cert-manager's
// gateway-shim, which creates their Certificates: what the shim will write
// for an object (PlanShim), and every reason it would skip a listener or the
// whole object, said at admission rather than in an Event after the fact.
//
//   - parse.go: the object as the shim reads it, with the API server's
//     defaults applied;
//   - shim.go: the shim's sync (trigger, issuer, listeners, the
//     Certificate's name, hosts, labels, owner and ACME annotations), and
//     the listeners it skips (MC2020);
//   - shim_annotations.go: the Certificate spec annotations as the shim
//     writes them; meshcert's checks of the same annotations are
//     certs.SpecFromAnnotations (MC1002).
//
// Nothing here talks to a cluster. The e2e tests compare PlanShim with the
// shim's own code on the same objects (docs/fidelity.md).
package gatewayapi
