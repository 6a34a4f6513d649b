package finding

// Catalog documents every code: the severity it is reported with and what
// it means. docs/findings.md is generated from it and the examples under
// testdata/findings/ (make golden), and a test keeps the three in step.
var Catalog = []CodeInfo{
	{Code: CodeInvalidIssuerAnnotation, Severity: SeverityError, Summary: "The cert-manager.io issuer annotations contradict each other or name no issuer (cert-manager's own rules)."},
	{Code: CodeInvalidCertificateAnnotation, Severity: SeverityError, Summary: "A cert-manager.io Certificate spec annotation does not parse or is out of range."},
	{Code: CodeInvalidMeshcertAnnotation, Severity: SeverityError, Summary: "A meshcert.io annotation is malformed.", Note: "An invalid `meshcert.io/inject` value is a warning: meshcert leaves the Gateway alone until it is `\"true\"` or `\"false\"`."},
	{Code: CodeNoEligibleServer, Severity: SeverityWarning, Summary: "A managed Gateway has no SIMPLE, MUTUAL or OPTIONAL_MUTUAL server meshcert could give a certificate."},
	{Code: CodeIstioMutualWithCredential, Severity: SeverityError, Summary: "ISTIO_MUTUAL uses the mesh's own certificates; a credential on it is rejected by Istio."},
	{Code: CodePassthroughWithCredential, Severity: SeverityWarning, Summary: "PASSTHROUGH and AUTO_PASSTHROUGH do not terminate TLS, so a credential on them is ignored."},
	{Code: CodeConflictingCredentialSources, Severity: SeverityError, Summary: "More than one of credentialName, credentialNames and the file pair is set, or too many credentialNames."},
	{Code: CodeMissingCredential, Severity: SeverityError, Summary: "A TLS-terminating server of an unmanaged Gateway has no credential; Istio rejects it."},
	{Code: CodeFileCertificate, Severity: SeverityInfo, Summary: "A server uses serverCertificate/privateKey file paths, which meshcert does not manage."},
	{Code: CodeUnknownTLSMode, Severity: SeverityError, Summary: "A server's tls.mode is not an Istio TLS mode."},
	{Code: CodeMalformedGateway, Severity: SeverityError, Summary: "The Gateway spec does not have the shape Istio's schema requires, so part of it could not be read."},
	{Code: CodeInvalidCredentialName, Severity: SeverityError, Summary: "A credentialName is not a valid Secret name.", Note: "It is a warning on a server meshcert does not manage or that does not terminate TLS with a Secret."},
	{Code: CodeTLSOnPlainTextPort, Severity: SeverityError, Summary: "A server's port is plain text (HTTP, TCP, ...) but it has tls settings; Istio allows only httpsRedirect there."},
	{Code: CodeTLSServerWithoutTLS, Severity: SeverityError, Summary: "An HTTPS or TLS server has no tls settings; Istio rejects it."},
	{Code: CodeDuplicatePortName, Severity: SeverityError, Summary: "Two servers of one Gateway use the same port name; Istio requires unique names."},
	{Code: CodeInvalidServerPort, Severity: SeverityError, Summary: "A server's port is missing, has no name, an unsupported protocol or a number outside 1-65535; Istio rejects it."},
	{Code: CodeUnknownField, Severity: SeverityError, Summary: "A Gateway or Certificate has a field its API does not have (a typo, or a field of a newer version); the API server rejects it."},
	{Code: CodeCACertCredential, Severity: SeverityError, Summary: "A SIMPLE, MUTUAL or OPTIONAL_MUTUAL server names a credential ending in -cacert, which istiod reads as a client CA only."},
	{Code: CodeInvalidBind, Severity: SeverityError, Summary: "A server's bind is neither an IP address nor a unix:// socket path (with port number 0); Istio rejects it."},
	{Code: CodeInvalidIstioHost, Severity: SeverityError, Summary: "A server has no host, or a host Istio rejects: a short name, a partial wildcard, an invalid namespace part or label."},
	{Code: CodeInvalidGatewayName, Severity: SeverityError, Summary: "A Gateway's name is not a DNS label (it has a dot, say); the API server takes it, but Istio's validation rejects the Gateway (invalid gateway name)."},
	{Code: CodeUncertifiableHost, Severity: SeverityError, Summary: "A host (bare \"*\", or not a DNS name) cannot be put into a certificate."},
	{Code: CodeHostNotCovered, Severity: SeverityWarning, Lenient: true, Summary: "The Certificate providing a server's credential does not cover one of that server's hosts."},
	{Code: CodeHostConflict, Severity: SeverityError, Summary: "Two servers with tls settings on one gateway workload serve the same host on the same port and bind; istiod keeps one and skips the other.", Note: "Gateways are on one workload when a known gateway Pod (or pod template) carries labels both select, as istiod merges Gateways per proxy; with no workload known, when one's selector is a subset of the other's, as `istioctl analyze` counts them. Hosts are compared as DNS names, without their namespace part."},
	{Code: CodeHostSharedAcrossGateways, Severity: SeverityWarning, Summary: "Two Gateways on one gateway workload serve the same host on the same port and bind (Istio's IST0145); istiod merges them into one listener, where their routes compete for the host.", Note: "Where both servers have tls settings the error MC3003 is reported instead."},
	{Code: CodeCertificateNameForm, Severity: SeverityWarning, Summary: "A Certificate's dnsNames entry is in upper case, ends in a dot, or repeats another once both are normalised; cert-manager accepts it, but issuers and clients compare names in lower case without the dot, and ACME servers refuse the dot.", Note: "The Certificates meshcert writes are always normalised: lower case, no trailing dot, no repeats."},
	{Code: CodeTooManyNames, Severity: SeverityError, Summary: "The certificate for one credential would hold more than 1,000 names (hosts and alt-names); meshcert creates none, since such a Certificate and its Secret approach Kubernetes' size limits, every handshake carries them and no public CA issues them."},
	{Code: CodeCertificateRejected, Severity: SeverityError, Summary: "cert-manager's webhook rejects a Certificate of the input: its own validation (common name length, renewBefore against duration, usages, literalSubject, email and IP syntax, keystores, name constraints, otherNames and the rest) finds it invalid.", Note: "The e2e tests run cert-manager's own validation on the same Certificates and compare."},
	{Code: CodeCredentialNotFound, Severity: SeverityWarning, Lenient: true, Summary: "No known Certificate or Secret provides a server's credential in the credential namespace."},
	{Code: CodeCertificateNotOwned, Severity: SeverityWarning, Summary: "A Certificate meshcert would create already exists and is not meshcert's; meshcert leaves it alone."},
	{Code: CodeCredentialSharedAcrossGateways, Severity: SeverityWarning, Summary: "Two Gateways on one gateway workload use the same credential or certificate files (Istio's IST0138).", Note: "Every server with tls settings counts, passthrough ones too, as for IST0138."},
	{Code: CodeLegacyGatewayCertsSecret, Severity: SeverityWarning, Summary: "A Certificate writes the pre-SDS istio-ingressgateway-certs Secret that current gateways never mount."},
	{Code: CodeOrphanCertificate, Severity: SeverityWarning, Summary: "A Certificate meshcert created names a Gateway the input does not hold.", Offline: true},
	{Code: CodeSelectorMatchesNoWorkload, Severity: SeverityWarning, Lenient: true, Summary: "A Gateway's selector matches none of the gateway workloads known (Istio's IST0101), so it applies to no gateway."},
	{Code: CodeCredentialNamespaceMismatch, Severity: SeverityWarning, Summary: "meshcert.io/credential-namespace names another namespace than the one the selected gateway workloads run in."},
	{Code: CodeCredentialNotServed, Severity: SeverityError, Summary: "istiod refuses the gateway the credential a server names, whatever exists: a Secret of another namespace than the gateway workload's, a kubernetes-gateway:// Secret outside the Gateway's namespace, a ConfigMap as a server certificate, or a reference istiod cannot parse.", Note: "The reference is resolved as the pinned istiod resolves it (a bare name, kubernetes://, kubernetes-gateway://, configmap://, builtin://, invalid://, sds://); the e2e tests compare that with what istiod's own SDS serves."},
	{Code: CodeSecretNotOwned, Severity: SeverityWarning, Summary: "meshcert would write a Secret that exists with no Certificate behind it, or that another Gateway of the same namespace named first; cert-manager would overwrite it, so meshcert creates no Certificate.", Note: "A Secret is seen only where the lookup holds Secrets (the CLI's input). Another namespace's Gateway serving the Secret is the error MC8001."},
	{Code: CodeInvalidCredential, Severity: SeverityError, Summary: "A Secret a server reads holds no certificate and key istiod can serve: neither tls.crt/tls.key nor cert/key, a certificate that is not PEM or does not parse, or one expired or not yet valid (Istio's IST0161).", Note: "Judged only where the Secret's contents are known (the CLI's input) and no Certificate writes it. A Secret with no data at all is taken as a placeholder for one kept out of the files (sealed, or made by an operator), where istioctl analyze reports IST0161."},
	{Code: CodePortNotOnService, Severity: SeverityWarning, Summary: "A server listens on a port that no Service selecting the gateway workload exposes (Istio's IST0162), so traffic through the Service never reaches it.", Note: "A Service exposes its targetPort, or its port when the targetPort is named or unset. Said only where a Service selecting the gateway's Pods is known (the CLI's input), unlike istioctl analyze, which reports every port when it finds none."},
	{Code: CodeInvalidIssuerRef, Severity: SeverityError, Summary: "An issuerRef's kind/group is not one cert-manager accepts, or its name is empty."},
	{Code: CodeIssuerNotFound, Severity: SeverityWarning, Lenient: true, Summary: "The referenced issuer is not known in this cluster."},
	{Code: CodeIssuerInOtherNamespace, Severity: SeverityWarning, Lenient: true, Summary: "A namespaced Issuer exists, but not in the namespace of the Certificate that needs it."},
	{Code: CodeIssuerNotReady, Severity: SeverityWarning, Summary: "The referenced issuer exists but is not Ready."},
	{Code: CodeACMEIssuerForMutual, Severity: SeverityWarning, Summary: "A MUTUAL server's client CA would come from an ACME certificate, which carries no usable CA."},
	{Code: CodeNoACMESolver, Severity: SeverityError, Summary: "No solver of the ACME issuer would take one of the certificate's names, so cert-manager's order fails (\"no configured challenge solvers can be used\").", Note: "meshcert runs cert-manager's own solver picker, with the challenges an ACME server offers: HTTP-01 and DNS-01 for a name, DNS-01 alone for a wildcard, HTTP-01 for an IP address. Solvers' matchLabels are matched against the Certificate's labels, as cert-manager matches them against the Order's, which carries them."},
	{Code: CodeACMEWildcardNeedsDNS01, Severity: SeverityError, Summary: "A wildcard name would go to an HTTP-01 solver, but an ACME server validates wildcards only with DNS-01."},
	{Code: CodeACMECommonNameNotAName, Severity: SeverityError, Summary: "The common name of a certificate from an ACME issuer is not among its DNS names and IP addresses; cert-manager's ACME issuer fails such a request (InvalidOrder)."},
	{Code: CodeTooManyACMENames, Severity: SeverityError, Summary: "The certificate holds more names than Let's Encrypt issues in one (100), so the order would fail."},
	{Code: CodeACMESolverNotServedByIstio, Severity: SeverityWarning, Summary: "The HTTP-01 solver cert-manager would pick creates an Ingress Istio does not serve (a class other than istio, an IngressClass whose controller is not istio.io/ingress-controller or that does not exist, or no class without an Istio default IngressClass), so the ACME server's request reaches no solver unless another ingress controller answers on port 80.", Note: "Istio's default mesh config is assumed (ingressClass istio, ingressControllerMode STRICT). The e2e tests compare this verdict with Istio's own Ingress controller on the Ingresses cert-manager creates."},
	{Code: CodeACMESolverClassUnknown, Severity: SeverityWarning, Lenient: true, Summary: "Whether Istio serves the HTTP-01 solver's Ingress depends on IngressClasses that are not in the input; add them to the files checked."},
	{Code: CodeInvalidACMESolver, Severity: SeverityError, Summary: "The HTTP-01 solver cert-manager would pick cannot work as configured: more than one of name, class and ingressClassName (cert-manager refuses it), or a gatewayHTTPRoute solver with no parentRefs or attached to a port other than 80."},
	{Code: CodeACMEChallengeRedirected, Severity: SeverityError, Summary: "A port-80 server of the Gateway redirects the host to HTTPS (tls.httpsRedirect), which answers the ACME server's HTTP-01 request with the redirect, so the certificate is never issued.", Note: "Istio sets require_tls on the host's virtual host of the port-80 route, before any route (the solver's included) is matched. A redirect of a wildcard host leaves an exact host's challenge alone. Hosts are compared as istiod keys them, after it drops a `*/` namespace part. For an IP address, cert-manager's solver Ingress has no host, which Istio serves in the `*` virtual host, so a redirect of `*` swallows its challenge."},
	{Code: CodeACMEChallengeOnOtherWorkload, Severity: SeverityWarning, Summary: "Istio serves the HTTP-01 solver's Ingress on its ingress gateway workload (istio=ingressgateway), but the Gateway that serves the name selects another workload, where the ACME server's request would arrive."},
	{Code: CodeACMEIssuerForCA, Severity: SeverityError, Summary: "A CA certificate (isCA) from an ACME issuer: ACME servers issue only end-entity certificates."},
	{Code: CodeACMEChallengeMayBeRedirected, Severity: SeverityWarning, Summary: "A port-80 server redirects a wildcard or namespace-qualified host that covers the name to HTTPS; if a VirtualService bound to that Gateway serves the name, Istio redirects the ACME server's HTTP-01 request too.", Note: "Istio keys the redirect by the server's host as it stands after dropping a `*/` namespace part, so only an exact host (or `*/host`) is certain to redirect the solver's route (MC5013); through a wildcard or another namespace-qualified host it happens when a VirtualService bound to the Gateway serves the name, and meshcert does not read VirtualServices."},
	{Code: CodeInvalidMeshConfig, Severity: SeverityError, Summary: "Spec.meshConfig does not decode as Istio's MeshConfig (unknown key or wrong type)."},
	{Code: CodePilotCertProviderOnGateway, Severity: SeverityError, Summary: "PILOT_CERT_PROVIDER is an istiod setting and has no effect on a gateway."},
	{Code: CodeInvalidPilotCertProvider, Severity: SeverityError, Summary: "Values.global.pilotCertProvider is not a value istiod accepts."},
	{Code: CodeIssuerCannotSignCA, Severity: SeverityError, Summary: "The issuer an IstioOperator names for istiod's CA cannot issue a CA certificate: an ACME issuer, or a CA issuer whose own CA is not a CA or has path length 0."},
	{Code: CodeCACertsNotOwned, Severity: SeverityWarning, Summary: "A Secret or Certificate cacerts that meshcert did not make exists in istiod's namespace; meshcert leaves it alone and makes no mesh CA.", Note: "In the cluster the controller checks the Secret itself before creating the Certificate, and records an Event instead."},
	{Code: CodeTrustBundleNotFound, Severity: SeverityWarning, Lenient: true, Summary: "A trust-bundle ConfigMap named in meshcert.io/peer-roots (IstioOperator) or meshcert.io/client-ca (Gateway) is not known; no peer roots are injected until it is, and a client CA reference to it dangles."},
	{Code: CodeInvalidTrustBundle, Severity: SeverityError, Summary: "A trust bundle (peer roots or a client CA) lacks the meshcert.io/trust-bundle label or its key, or holds something other than valid, unexpired CA certificates: garbage, a private key, a leaf, an expired CA."},
	{Code: CodeMultiRootDisabled, Severity: SeverityError, Summary: "Peer roots are named but ISTIO_MULTIROOT_MESH (istiod) or PROXY_CONFIG_XDS_AGENT (proxies) is set to something else than true, so Istio would ignore them."},
	{Code: CodeIstiodNamespaceUnclear, Severity: SeverityWarning, Summary: "Spec.namespace and values.global.istioNamespace disagree, or only spec.namespace is set; meshcert puts cacerts where istioctl installs istiod."},
	{Code: CodeCACertsContested, Severity: SeverityError, Summary: "Two IstioOperators ask meshcert for istiod's cacerts in the same namespace; only one Certificate can write it, so the later one (by creationTimestamp, else the later in the input) gets none.", Offline: true},
	{Code: CodeCredentialHijack, Severity: SeverityError, Summary: "A server reads a credential meshcert manages for a Gateway of another namespace, or a managed server names a Secret a Gateway of another namespace serves; it would serve that Gateway's key, or make cert-manager overwrite it, so meshcert denies it.", Note: "The finding lands on the Gateway that came later (the one being admitted, or the later creationTimestamp); the incumbent is never blamed. Within one namespace sharing a credential is Istio's IST0138 warning, MC4003."},
	{Code: CodeHostHijack, Severity: SeverityError, Summary: "A server claims a host on a gateway workload and port that a Gateway of another namespace claimed first; meshcert denies it and makes no Certificate for it.", Note: "The older Gateway (by creationTimestamp) keeps the host; when neither is stored yet (files in CI) both are reported. Gateways share a workload when a known gateway Pod (or pod template) carries labels both select, as istiod merges Gateways per proxy; with no workload known, when one selector contains the other. The catch-all host `*` is no claim."},
	{Code: CodeHostOutsidePolicy, Severity: SeverityError, Summary: "A Gateway meshcert manages claims a host, or its Certificate a name, address or email domain, that its namespace's meshcert.io/allowed-hosts does not allow; meshcert denies it and makes no Certificate for it.", Note: "Under the default --namespace-policy=required a namespace without the annotation may claim no host, and in the cluster a namespace meshcert cannot see yet is refused. The CLI checks the policy only of Namespaces in its input. The catch-all host `*` is no claim."},
	{Code: CodeIssuerOutsidePolicy, Severity: SeverityError, Summary: "A Gateway meshcert manages uses an issuer that its namespace's meshcert.io/allowed-issuers does not allow; meshcert denies it and makes no Certificate for it.", Note: "Under the default --namespace-policy=required a namespace without the annotation may use no issuer, the default issuer included."},
	{Code: CodeInvalidNamespacePolicy, Severity: SeverityError, Summary: "A Namespace's meshcert.io/allowed-hosts or meshcert.io/allowed-issuers does not parse; meshcert refuses that namespace's managed Gateways until a cluster admin fixes it."},
	{Code: CodeSecretOutsideNamePart, Severity: SeverityError, Summary: "A managed server names a Secret in a namespace other than the Gateway's that meshcert did not derive for it; meshcert cannot see whose Secrets exist there, so it writes none.", Note: "meshcert writes Secrets in another namespace only under the names it injects (namespace, Gateway and server plus a hash of them), or under a name a Certificate it made for the Gateway already writes. See docs/security.md."},
	{Code: CodeDuplicateObject, Severity: SeverityWarning, Summary: "The input holds the same object more than once (for example `-f x -f x`); the last copy wins, as with kubectl.", Offline: true},
	{Code: CodeObjectTooLarge, Severity: SeverityError, Summary: "An object is larger than the 1.5 MiB etcd stores by default (its --max-request-bytes), so the API server refuses to store it.", Offline: true},
	{Code: CodeMalformedObject, Severity: SeverityError, Summary: "An object of a kind meshcert reads (an Issuer, a Certificate, a Secret, a workload, ...) has a field of another type than its API's, a list where a string belongs, say; the API server rejects it, and meshcert reports it and checks the rest of the input.", Offline: true},
	{Code: CodeAPIServerRejects, Severity: SeverityError, Summary: "The API server rejects the object before any webhook sees it: a name its kind does not allow, an unknown metadata field, annotations over 256 KiB in all, an invalid label or annotation key, or a value of another type than the CRD's schema has (a quoted port number).", Note: "Checked with apimachinery's own ObjectMeta validation. `istioctl validate` accepts a quoted port number, which it reads as protobuf JSON; the API server does not."},
}

// CodeInfo is the documentation of one code.
type CodeInfo struct {
	Code Code
	// Severity is the severity the code is reported with.
	Severity Severity
	// Lenient codes are warnings by default and errors under --strict or
	// enforcement, because they may only mean "not applied yet".
	Lenient bool
	// Summary says in one sentence what the finding means.
	Summary string
	// Note, if set, says when the code comes with another severity.
	Note string
	// Offline codes are about the input files of `meshcert check` and
	// `inject`; the webhooks, which see one object, never report them.
	Offline bool
}

// Info returns the documentation of code.
func Info(code Code) (CodeInfo, bool) {
	for _, c := range Catalog {
		if c.Code == code {
			return c, true
		}
	}
	return CodeInfo{}, false
}
