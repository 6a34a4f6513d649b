// Package certs holds meshcert's decisions as plain functions: Istio
// Gateways, cert-manager Certificates and IstioOperators in, the mutated
// objects, the Certificates meshcert should own and the findings out.
//
// Nothing here talks to a cluster. Everything the decisions need to know
// about other objects comes through the Lookup interface, which the offline
// CLI fills from its input files (Index) and the server fills from informer
// caches, so the webhook, the controller and the CLI can never disagree.
package certs
