// Package layout writes down which of meshcert's packages may import which,
// and layout_test.go enforces it, so the map in docs/design.md cannot drift
// from the code. The rule of the house: decisions are pure (no client, no
// manager, no door), and the three doors (CLI, webhook, controller) stand
// side by side without importing each other.
package layout

// Module is meshcert's module path.
const Module = "github.com/meshcert/meshcert"

// Rule says what one package decides and what it must not import, directly
// or through anything it imports.
type Rule struct {
	// Package is the import path relative to Module.
	Package string
	// Decides is a one-line description for the map.
	Decides string
	// Forbidden are import path prefixes the package must not reach,
	// relative to Module when they start with "./", else absolute.
	Forbidden []string
}

// client-go is not in the pure packages' list: cert-manager's pkg/util, whose
// CSV parser the annotations use, imports k8s.io/client-go/rest; only
// direct imports of client-go are forbidden there (see DirectForbidden).
var (
	doors  = []string{"./webhook", "./controller", "./cluster", "./cmd"}
	server = []string{"sigs.k8s.io/controller-runtime"}
)

func join(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// Rules are the layout, one entry per package.
var Rules = []Rule{
	{"finding", "codes, severities, the finding builder and the code catalog behind docs/findings.md",
		join(doors, server, []string{"./certs", "./gatewayapi", "./istiooperator", "./offline", "./manifest"})},
	{"certs", "Istio Gateway → credentialNames, Certificates and findings, and the cert-manager vocabulary and trust bundles istiooperator and gatewayapi share (pure)",
		join(doors, server, []string{"./gatewayapi", "./istiooperator", "./meshca", "./offline", "./manifest"})},
	{"gatewayapi", "Gateway API Gateways and ListenerSets: the Certificates cert-manager's gateway-shim creates, and what it would skip or refuse (pure; cert-manager vocabulary from certs)",
		join(doors, server, []string{"./istiooperator", "./offline", "./manifest"})},
	{"istiooperator", "what installs istiod (IstioOperator, Sail's Istio and IstioRevision, a rendered install): checks, istiod's CA Certificate and peer roots (pure; cert-manager vocabulary from certs)",
		join(doors, server, []string{"./offline", "./manifest"})},
	{"meshca", "istiod's cacerts composed from the issued intermediate, and root rotation as a state machine (pure; trust anchors from certs)",
		join(doors, server, []string{"./gatewayapi", "./istiooperator", "./offline", "./manifest"})},
	{"offline", "a set of manifests planned as if it were the cluster, for the CLI (pure)",
		join(doors, server, []string{"./manifest"})},
	{"manifest", "reading and writing YAML/JSON manifests with file and line",
		join(doors, server, []string{"./certs", "./gatewayapi", "./istiooperator", "./offline", "./finding"})},
	{"report", "findings rendered for people and CI: text, JSON, SARIF 2.1.0, JUnit XML, GitHub workflow commands (pure)",
		join(doors, server, []string{"./certs", "./gatewayapi", "./istiooperator", "./meshca", "./offline"})},
	{"status", "what serves each Gateway's TLS for `meshcert status`: rows from the objects read and the plan (pure)",
		join(doors, server, []string{"./offline", "./manifest", "./report"})},
	{"cluster", "informer caches and their indexes, the cache-backed Lookup, the server's RBAC",
		[]string{"./webhook", "./controller", "./cmd", "./offline", "./manifest"}},
	{"webhook", "admission handlers and their declaration (paths, rules)",
		[]string{"./controller", "./cluster", "./cmd", "./offline", "./manifest"}},
	{"controller", "the Certificate controller and IstioOperator events",
		[]string{"./webhook", "./cmd", "./offline", "./manifest"}},
	{"internal/chart", "the chart's webhook and RBAC templates, generated from the webhook and cluster declarations",
		[]string{"./controller", "./cmd", "./offline", "./manifest"}},
	{"cmd/meshcert/app", "the cobra commands: serve wires the doors, inject/check run offline", nil},
}

// DirectForbidden are import prefixes the pure packages must not import
// directly, even where a dependency of theirs does.
var DirectForbidden = []string{"k8s.io/client-go"}

// Pure lists the packages DirectForbidden applies to.
var Pure = []string{"finding", "certs", "gatewayapi", "istiooperator", "meshca", "offline", "manifest", "report", "status"}
