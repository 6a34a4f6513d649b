package finding

// Code is the stable identifier of a kind of finding. Every code is listed,
// with an example, in docs/findings.md; codes are never renumbered or reused.
type Code string

// Issuer selection and Certificate spec annotations on a Gateway.
const (
	// CodeInvalidIssuerAnnotation: the cert-manager.io issuer annotations
	// contradict each other or name no issuer (cert-manager's own rules).
	CodeInvalidIssuerAnnotation Code = "MC1001"
	// CodeInvalidCertificateAnnotation: a cert-manager.io Certificate spec
	// annotation does not parse or is out of range.
	CodeInvalidCertificateAnnotation Code = "MC1002"
	// CodeInvalidMeshcertAnnotation: a meshcert.io annotation is malformed.
	CodeInvalidMeshcertAnnotation Code = "MC1003"
)

// Gateway servers and TLS settings.
const (
	// CodeNoEligibleServer: a managed Gateway has no SIMPLE, MUTUAL or
	// OPTIONAL_MUTUAL server meshcert could give a certificate.
	CodeNoEligibleServer Code = "MC2001"
	// CodeIstioMutualWithCredential: ISTIO_MUTUAL uses the mesh's own
	// certificates; a credential on it is rejected by Istio.
	CodeIstioMutualWithCredential Code = "MC2002"
	// CodePassthroughWithCredential: PASSTHROUGH and AUTO_PASSTHROUGH do not
	// terminate TLS, so a credential on them is ignored.
	CodePassthroughWithCredential Code = "MC2003"
	// CodeConflictingCredentialSources: more than one of credentialName,
	// credentialNames and the file pair is set, or too many credentialNames.
	CodeConflictingCredentialSources Code = "MC2004"
	// CodeMissingCredential: a TLS-terminating server of an unmanaged Gateway
	// has no credential; Istio rejects it.
	CodeMissingCredential Code = "MC2005"
	// CodeFileCertificate: a server uses serverCertificate/privateKey file
	// paths, which meshcert does not manage.
	CodeFileCertificate Code = "MC2006"
	// CodeUnknownTLSMode: servers[].tls.mode is not an Istio TLS mode.
	CodeUnknownTLSMode Code = "MC2007"
	// CodeMalformedGateway: the Gateway spec does not have the shape Istio's
	// schema requires, so part of it could not be read.
	CodeMalformedGateway Code = "MC2008"
	// CodeInvalidCredentialName: a credentialName is not a valid Secret name.
	CodeInvalidCredentialName Code = "MC2009"
	// CodeTLSOnPlainTextPort: tls settings on a port Istio serves as plain
	// text (only httpsRedirect is allowed on HTTP ports).
	CodeTLSOnPlainTextPort Code = "MC2010"
	// CodeTLSServerWithoutTLS: an HTTPS or TLS server without tls settings.
	CodeTLSServerWithoutTLS Code = "MC2011"
	// CodeDuplicatePortName: two servers of one Gateway use one port name.
	CodeDuplicatePortName Code = "MC2012"
	// CodeInvalidServerPort: a server's port is missing, has no name, an
	// unsupported protocol or a number outside 1-65535.
	CodeInvalidServerPort Code = "MC2013"
	// CodeUnknownField: the Gateway spec has a field Istio's schema does not.
	CodeUnknownField Code = "MC2014"
	// CodeCACertCredential: a server that needs a server certificate names a
	// credential ending in -cacert, which istiod reads as a CA only.
	CodeCACertCredential Code = "MC2015"
	// CodeInvalidBind: a server's bind is neither an IP address nor a
	// unix socket Istio accepts.
	CodeInvalidBind Code = "MC2016"
	// CodeInvalidIstioHost: a server has no host, or a host Istio's
	// validation rejects.
	CodeInvalidIstioHost Code = "MC2017"
	// CodeInvalidGatewayName: a Gateway's name is not a DNS label, which
	// Istio's validation requires.
	CodeInvalidGatewayName Code = "MC2018"
	// CodeIgnoredCipherSuites: a server's cipherSuites holds a suite Istio
	// drops (unknown or repeated), or asks for TLS 1.0 or 1.1 without any.
	CodeIgnoredCipherSuites Code = "MC2019"
)

// Hosts.
const (
	// CodeUncertifiableHost: a host (bare "*", or not a DNS name) cannot be
	// put into a certificate.
	CodeUncertifiableHost Code = "MC3001"
	// CodeHostNotCovered: the Certificate providing a server's credential does
	// not cover one of that server's hosts.
	CodeHostNotCovered Code = "MC3002"
	// CodeHostConflict: two servers with tls settings on one gateway
	// workload serve the same host on the same port and bind; istiod skips
	// one of them.
	CodeHostConflict Code = "MC3003"
	// CodeHostSharedAcrossGateways: two Gateways on one gateway workload
	// serve the same host on the same port and bind (Istio's IST0145).
	CodeHostSharedAcrossGateways Code = "MC3004"
	// CodeCertificateNameForm: a Certificate's dnsNames entry is in upper
	// case, ends in a dot, or repeats another once normalised.
	CodeCertificateNameForm Code = "MC3005"
	// CodeTooManyNames: a planned certificate would hold more names than
	// meshcert puts into one.
	CodeTooManyNames Code = "MC3006"
	// CodeCertificateRejected: cert-manager's own validation (its webhook)
	// rejects a Certificate of the input.
	CodeCertificateRejected Code = "MC3007"
)

// Credentials and Certificates.
const (
	// CodeCredentialNotFound: no known Certificate or Secret provides a
	// server's credential in the credential namespace.
	CodeCredentialNotFound Code = "MC4001"
	// CodeCertificateNotOwned: a Certificate meshcert would create already
	// exists and is not meshcert's; meshcert leaves it alone.
	CodeCertificateNotOwned Code = "MC4002"
	// CodeCredentialSharedAcrossGateways: two Gateways selecting the same
	// workload use the same credential (Istio's IST0138).
	CodeCredentialSharedAcrossGateways Code = "MC4003"
	// CodeLegacyGatewayCertsSecret: a Certificate writes the pre-SDS
	// istio-ingressgateway-certs Secret that current gateways never mount.
	CodeLegacyGatewayCertsSecret Code = "MC4004"
	// CodeOrphanCertificate: a Certificate meshcert created for a Gateway
	// that is not there.
	CodeOrphanCertificate Code = "MC4005"
	// CodeSelectorMatchesNoWorkload: a Gateway's selector matches none of
	// the gateway workloads known (Istio's IST0101 for a selector).
	CodeSelectorMatchesNoWorkload Code = "MC4006"
	// CodeCredentialNamespaceMismatch: meshcert.io/credential-namespace
	// names another namespace than the selected workloads run in.
	CodeCredentialNamespaceMismatch Code = "MC4007"
	// CodeCredentialNotServed: istiod refuses the gateway the credential
	// a server names, whatever exists (another namespace, a scheme it
	// cannot parse, a ConfigMap as a server certificate).
	CodeCredentialNotServed Code = "MC4008"
	// CodeSecretNotOwned: meshcert would write a Secret that exists
	// without a Certificate behind it, or that another Gateway named
	// first, so it creates no Certificate.
	CodeSecretNotOwned Code = "MC4009"
	// CodeInvalidCredential: a Secret a server reads holds no certificate
	// and key istiod can serve (Istio's IST0161).
	CodeInvalidCredential Code = "MC4010"
	// CodePortNotOnService: a server listens on a port no Service of its
	// gateway workload exposes (Istio's IST0162).
	CodePortNotOnService Code = "MC4011"
)

// Issuer references.
const (
	// CodeInvalidIssuerRef: an issuerRef's kind/group is not one cert-manager
	// accepts, or its name is empty.
	CodeInvalidIssuerRef Code = "MC5001"
	// CodeIssuerNotFound: the referenced issuer is not known in this cluster.
	CodeIssuerNotFound Code = "MC5002"
	// CodeIssuerInOtherNamespace: a namespaced Issuer exists, but not in the
	// namespace of the Certificate that needs it.
	CodeIssuerInOtherNamespace Code = "MC5003"
	// CodeIssuerNotReady: the referenced issuer exists but is not Ready.
	CodeIssuerNotReady Code = "MC5004"
	// CodeACMEIssuerForMutual: a MUTUAL server's client CA would come from an
	// ACME certificate, which carries no usable CA.
	CodeACMEIssuerForMutual Code = "MC5005"
	// CodeNoACMESolver: no solver of an ACME issuer would take one of a
	// Certificate's names.
	CodeNoACMESolver Code = "MC5006"
	// CodeACMEWildcardNeedsDNS01: a wildcard name would go to an HTTP-01
	// solver, which an ACME server does not offer for wildcards.
	CodeACMEWildcardNeedsDNS01 Code = "MC5007"
	// CodeACMECommonNameNotAName: the common name of a Certificate from an
	// ACME issuer is not among its DNS names and IP addresses.
	CodeACMECommonNameNotAName Code = "MC5008"
	// CodeTooManyACMENames: more names than Let's Encrypt puts into one
	// certificate.
	CodeTooManyACMENames Code = "MC5009"
	// CodeACMESolverNotServedByIstio: the HTTP-01 solver cert-manager would
	// pick creates an Ingress Istio does not serve.
	CodeACMESolverNotServedByIstio Code = "MC5010"
	// CodeACMESolverClassUnknown: whether Istio serves the HTTP-01 solver's
	// Ingress depends on IngressClasses meshcert was not given.
	CodeACMESolverClassUnknown Code = "MC5011"
	// CodeInvalidACMESolver: the HTTP-01 solver cert-manager would pick
	// cannot work as configured (conflicting fields, no parent Gateway).
	CodeInvalidACMESolver Code = "MC5012"
	// CodeACMEChallengeRedirected: a port-80 server redirects the host to
	// HTTPS, HTTP-01 challenges included.
	CodeACMEChallengeRedirected Code = "MC5013"
	// CodeACMEChallengeOnOtherWorkload: Istio serves the HTTP-01 solver's
	// Ingress on another gateway workload than the Gateway's.
	CodeACMEChallengeOnOtherWorkload Code = "MC5014"
	// CodeACMEIssuerForCA: a CA certificate from an ACME issuer.
	CodeACMEIssuerForCA Code = "MC5015"
	// CodeACMEChallengeMayBeRedirected: a port-80 server redirects a
	// wildcard or namespace-qualified host covering the name to HTTPS,
	// which swallows the challenge when a VirtualService serves the name.
	CodeACMEChallengeMayBeRedirected Code = "MC5016"
)

// IstioOperator.
const (
	// CodeInvalidMeshConfig: spec.meshConfig does not decode as Istio's
	// MeshConfig (unknown key or wrong type).
	CodeInvalidMeshConfig Code = "MC6001"
	// CodePilotCertProviderOnGateway: PILOT_CERT_PROVIDER is an istiod
	// setting and has no effect on a gateway.
	CodePilotCertProviderOnGateway Code = "MC6002"
	// CodeInvalidPilotCertProvider: values.global.pilotCertProvider is not a
	// value istiod accepts.
	CodeInvalidPilotCertProvider Code = "MC6003"
	// CodeIssuerCannotSignCA: the mesh CA's issuer cannot issue a CA
	// certificate (ACME, or a CA with path length 0).
	CodeIssuerCannotSignCA Code = "MC6004"
	// CodeCACertsNotOwned: a cacerts Secret or Certificate meshcert did not
	// make is in the way; meshcert makes no mesh CA.
	CodeCACertsNotOwned Code = "MC6005"
	// CodeTrustBundleNotFound: a ConfigMap named in meshcert.io/peer-roots
	// or meshcert.io/client-ca is not known.
	CodeTrustBundleNotFound Code = "MC6006"
	// CodeInvalidTrustBundle: a trust bundle holds something other than
	// valid, unexpired CA certificates, or lacks its key or label.
	CodeInvalidTrustBundle Code = "MC6007"
	// CodeMultiRootDisabled: a setting multi-root trust needs is set to
	// something else than true, or cannot be set.
	CodeMultiRootDisabled Code = "MC6008"
	// CodeIstiodNamespaceUnclear: spec.namespace and
	// values.global.istioNamespace disagree or only one is set.
	CodeIstiodNamespaceUnclear Code = "MC6009"
	// CodeCACertsContested: two IstioOperators ask meshcert for istiod's
	// cacerts in one namespace.
	CodeCACertsContested Code = "MC6010"
	// CodeMeshConfigSetTwice: meshConfig sets one field under two names, or
	// several alternatives of a oneof (tracers); Istio keeps one.
	CodeMeshConfigSetTwice Code = "MC6011"
	// CodeNoIstiodInstalled: an IstioOperator names an issuer for istiod's
	// CA but installs no istiod.
	CodeNoIstiodInstalled Code = "MC6012"
)

// Tenancy: what one namespace may not take from another.
const (
	// CodeCredentialHijack: a server reads a credential meshcert manages
	// for another Gateway.
	CodeCredentialHijack Code = "MC8001"
	// CodeHostHijack: a host on a workload and port that a Gateway of
	// another namespace claimed first.
	CodeHostHijack Code = "MC8002"
	// CodeHostOutsidePolicy: a managed Gateway claims a host its
	// namespace's policy does not allow.
	CodeHostOutsidePolicy Code = "MC8003"
	// CodeIssuerOutsidePolicy: a managed Gateway uses an issuer its
	// namespace's policy does not allow.
	CodeIssuerOutsidePolicy Code = "MC8004"
	// CodeInvalidNamespacePolicy: a Namespace's policy annotations do not
	// parse.
	CodeInvalidNamespacePolicy Code = "MC8005"
	// CodeSecretOutsideNamePart: a managed server names a Secret in a
	// namespace other than the Gateway's that meshcert did not derive for
	// it, so meshcert cannot tell whose it is and writes none.
	CodeSecretOutsideNamePart Code = "MC8006"
)

// The input of the offline CLI.
const (
	// CodeDuplicateObject: the input holds the same object (group, kind,
	// namespace, name) more than once.
	CodeDuplicateObject Code = "MC7001"
	// CodeObjectTooLarge: an object is larger than etcd stores, so the API
	// server refuses it.
	CodeObjectTooLarge Code = "MC7002"
	// CodeMalformedObject: an object of a kind meshcert reads has a field
	// of another type than its API's, so the API server rejects it.
	CodeMalformedObject Code = "MC7003"
	// CodeAPIServerRejects: the API server rejects the object before any
	// webhook sees it: a name it does not allow, metadata it does not have
	// or holds too much of, a value of the wrong schema type.
	CodeAPIServerRejects Code = "MC7004"
	// CodeDuplicateKey: a key appears twice in one mapping of a manifest;
	// kubectl keeps the last value and drops the first without a word.
	CodeDuplicateKey Code = "MC7005"
)
