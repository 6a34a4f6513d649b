package certs

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
)

// Decisions the gatewayapi package shares with the checks here, so each is
// spelled once.

// AdmitsListenerSet reports whether a Gateway of gatewayNamespace whose
// spec.allowedListeners is allowed admits a ListenerSet of namespace, and
// if not, what it admits, as a gatewayHTTPRoute solver's route is checked:
// none by default; a namespace the lookup does not know is taken as
// admitted.
func AdmitsListenerSet(ctx context.Context, lookup Lookup, allowed *gwapi.AllowedListeners, gatewayNamespace, namespace string) (bool, string) {
	c := &http01Check{acmeCheck: acmeCheck{lookup: lookup}}
	return c.admitsNamespace(ctx, listenerSetsFrom(allowed), listenerSetsSelector(allowed), gatewayNamespace, namespace)
}

// CredentialProblem says why istiod cannot serve secret as a gateway's
// certificate at now (MC4010), "" when it can.
func CredentialProblem(secret *corev1.Secret, now time.Time) string {
	return credentialProblem(secret, now)
}
