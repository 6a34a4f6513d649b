package finding

// Code is the stable identifier of a kind of finding. Every code is listed,
// with an example, in docs/findings.md; codes are never renumbered or reused.
// What a code means is written once, in its Catalog entry, which the docs
// are generated from: the constants below carry no summary of their own.
type Code string

// Issuer selection and Certificate spec annotations on a Gateway.
const (
	CodeInvalidIssuerAnnotation      Code = "MC1001"
	CodeInvalidCertificateAnnotation Code = "MC1002"
	CodeInvalidMeshcertAnnotation    Code = "MC1003"
)

// Gateway servers and TLS settings.
const (
	CodeNoEligibleServer             Code = "MC2001"
	CodeIstioMutualWithCredential    Code = "MC2002"
	CodePassthroughWithCredential    Code = "MC2003"
	CodeConflictingCredentialSources Code = "MC2004"
	CodeMissingCredential            Code = "MC2005"
	CodeFileCertificate              Code = "MC2006"
	CodeUnknownTLSMode               Code = "MC2007"
	CodeMalformedGateway             Code = "MC2008"
	CodeInvalidCredentialName        Code = "MC2009"
	CodeTLSOnPlainTextPort           Code = "MC2010"
	CodeTLSServerWithoutTLS          Code = "MC2011"
	CodeDuplicatePortName            Code = "MC2012"
	CodeInvalidServerPort            Code = "MC2013"
	CodeUnknownField                 Code = "MC2014"
	CodeCACertCredential             Code = "MC2015"
	CodeInvalidBind                  Code = "MC2016"
	CodeInvalidIstioHost             Code = "MC2017"
	CodeInvalidGatewayName           Code = "MC2018"
	CodeIgnoredCipherSuites          Code = "MC2019"
	CodeListenerSkippedByShim        Code = "MC2020"
	CodeListenerSetParentUnknown     Code = "MC2021"
	CodeListenerConflicted           Code = "MC2022"
	CodeInvalidRouteKinds            Code = "MC2023"
	CodeListenerSetNotAllowed        Code = "MC2024"
	CodeNotMergedOntoGateway         Code = "MC2025"
)

// Hosts.
const (
	CodeUncertifiableHost        Code = "MC3001"
	CodeHostNotCovered           Code = "MC3002"
	CodeHostConflict             Code = "MC3003"
	CodeHostSharedAcrossGateways Code = "MC3004"
	CodeCertificateNameForm      Code = "MC3005"
	CodeTooManyNames             Code = "MC3006"
	CodeCertificateRejected      Code = "MC3007"
)

// Credentials and Certificates.
const (
	CodeCredentialNotFound             Code = "MC4001"
	CodeCertificateNotOwned            Code = "MC4002"
	CodeCredentialSharedAcrossGateways Code = "MC4003"
	CodeLegacyGatewayCertsSecret       Code = "MC4004"
	CodeOrphanCertificate              Code = "MC4005"
	CodeSelectorMatchesNoWorkload      Code = "MC4006"
	CodeCredentialNamespaceMismatch    Code = "MC4007"
	CodeCredentialNotServed            Code = "MC4008"
	CodeSecretNotOwned                 Code = "MC4009"
	CodeInvalidCredential              Code = "MC4010"
	CodePortNotOnService               Code = "MC4011"
	CodeCredentialNeedsSecretAccess    Code = "MC4012"
)

// Issuer references.
const (
	CodeInvalidIssuerRef             Code = "MC5001"
	CodeIssuerNotFound               Code = "MC5002"
	CodeIssuerInOtherNamespace       Code = "MC5003"
	CodeIssuerNotReady               Code = "MC5004"
	CodeACMEIssuerForMutual          Code = "MC5005"
	CodeNoACMESolver                 Code = "MC5006"
	CodeACMEWildcardNeedsDNS01       Code = "MC5007"
	CodeACMECommonNameNotInNames     Code = "MC5008"
	CodeTooManyACMENames             Code = "MC5009"
	CodeACMESolverNotServedByIstio   Code = "MC5010"
	CodeACMESolverClassUnknown       Code = "MC5011"
	CodeInvalidACMESolver            Code = "MC5012"
	CodeACMEChallengeRedirected      Code = "MC5013"
	CodeACMEChallengeOnOtherWorkload Code = "MC5014"
	CodeACMEIssuerForCA              Code = "MC5015"
	CodeACMEChallengeMayBeRedirected Code = "MC5016"
	CodeACMESolverParentNotFound     Code = "MC5017"
)

// IstioOperator.
const (
	CodeInvalidMeshConfig          Code = "MC6001"
	CodePilotCertProviderOnGateway Code = "MC6002"
	CodeInvalidPilotCertProvider   Code = "MC6003"
	CodeIssuerCannotSignCA         Code = "MC6004"
	CodeCACertsNotOwned            Code = "MC6005"
	CodeTrustBundleNotFound        Code = "MC6006"
	CodeInvalidTrustBundle         Code = "MC6007"
	CodeMultiRootDisabled          Code = "MC6008"
	CodeIstiodNamespaceUnclear     Code = "MC6009"
	CodeCACertsContested           Code = "MC6010"
	CodeMeshConfigSetTwice         Code = "MC6011"
	CodeNoIstiodInstalled          Code = "MC6012"
	CodeInvalidRotationSetting     Code = "MC6013"
)

// Tenancy: what one namespace may not take from another.
const (
	CodeCredentialHijack       Code = "MC8001"
	CodeHostHijack             Code = "MC8002"
	CodeHostOutsidePolicy      Code = "MC8003"
	CodeIssuerOutsidePolicy    Code = "MC8004"
	CodeInvalidNamespacePolicy Code = "MC8005"
	CodeSecretOutsideNamePart  Code = "MC8006"
)

// The input of the offline CLI.
const (
	CodeDuplicateObject  Code = "MC7001"
	CodeObjectTooLarge   Code = "MC7002"
	CodeMalformedObject  Code = "MC7003"
	CodeAPIServerRejects Code = "MC7004"
	CodeDuplicateKey     Code = "MC7005"
)
