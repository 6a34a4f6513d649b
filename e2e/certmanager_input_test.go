package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/e2e/framework"
)

// absent removes a field from a generated Certificate.
type absent struct{}

// inputCertificateFields are the fields of a Certificate spec that
// cert-manager's validation (internal/apis/certmanager/validation,
// ValidateCertificateSpec) looks at, each with values as users write them:
// valid ones, edge values cert-manager accepts, and ones it rejects.
// Between them they take every branch of its rules that a Certificate can
// reach with cert-manager's default feature gates.
var inputCertificateFields = []struct {
	field  string
	values []any
}{
	{"secretName", []any{"web-tls", "web.tls", "w", "", "Web_TLS", "web-", "-web", strings.Repeat("a", 253), strings.Repeat("a", 254), absent{}}},
	{"issuerRef", []any{
		obj("name", "ca", "kind", "ClusterIssuer"), obj("name", "ca"), obj("name", "ca", "kind", "Issuer", "group", "cert-manager.io"),
		obj("name", "", "kind", "ClusterIssuer"), obj("kind", "ClusterIssuer"), obj("name", " ", "kind", "Issuer"),
		obj("name", "ca", "kind", "VenafiIssuer"), obj("name", " ", "kind", "VenafiIssuer"), obj("kind", "clusterissuer"),
		obj("name", "ca", "kind", "Foo", "group", "cert-manager.io"), obj("kind", "Foo", "group", "cert-manager.io"),
		obj("name", "ca", "kind", "AWSPCAClusterIssuer", "group", "awspca.cert-manager.io"), obj("name", "ca", "group", "example.com"),
	}},
	{"commonName", []any{"web.example.com", "*.example.com", "Web Site", "", strings.Repeat("a", 64), strings.Repeat("a", 65), strings.Repeat("é", 32), strings.Repeat("é", 33), absent{}}},
	{"literalSubject", []any{
		"CN=web.example.com,O=Example,C=DE", "O=Example,C=DE", "CN=a+CN=b", "UID=x,DC=example,DC=com", "CN=a,1.2.840.113549.1.9.1=a@example.com",
		"CN=" + strings.Repeat("a", 65), "CN=" + strings.Repeat("a", 65) + "+CN=short", "CN=a\\,b,OU=ops,L=Berlin,ST=BE,STREET=Main 1,POSTALCODE=10115,SERIALNUMBER=1",
		"web.example.com", "CN=a,,O=b", "CN=a,FOO=bar", "cn=lower", "1.2.x=a", "", "=a",
	}},
	{"subject", []any{
		obj("organizations", list("Acme")), obj(), obj("serialNumber", "1"), obj("countries", list("DE"), "provinces", list("BY")),
		obj("postalCodes", list("12345"), "streetAddresses", list("Main St 1")), obj("organizationalUnits", list("ops")), obj("localities", list("Berlin")),
	}},
	{"dnsNames", []any{list("web.example.com"), list(), absent{}, list("*.example.com", "example.com"), list("Web.Example.com.")}},
	{"uris", []any{list("spiffe://cluster.local/ns/a/sa/b"), list("https://example.com/x"), list()}},
	{"emailAddresses", []any{
		list("a@example.com"), list("a@example.com", "first.last+tag@sub.example.com"), list("a@b"), list(),
		list("Ann <a@example.com>"), list("<a@example.com>"), list("not-an-email"), list(""), list("a@example.com "), list("a@@example.com"),
	}},
	{"ipAddresses", []any{
		list("10.0.0.1"), list("::1"), list("::ffff:10.0.0.1"), list("10.0.0.1", "10.0.0.1"), list("2001:db8::1"), list(),
		list("fe80::1%eth0"), list("10.0.0.0/8"), list("[::1]"), list("999.1.1.1"), list(""), list(" 10.0.0.1"), list("010.0.0.1"), list("10.0.0.1", "localhost"),
	}},
	{"otherNames", []any{
		list(obj("oid", "1.3.6.1.4.1.311.20.2.3", "utf8Value", "upn@example.com")), list(),
		list(obj("utf8Value", "x")), list(obj("oid", "1.3.x", "utf8Value", "x")), list(obj("oid", "1..3", "utf8Value", "x")),
		list(obj("oid", "1.3.6.1.4.1.311.20.2.3")), list(obj()), list(obj("oid", "-1.2", "utf8Value", "x")),
	}},
	{"privateKey", []any{
		obj("algorithm", "RSA", "size", 2048), obj("algorithm", "RSA", "size", 8192), obj("algorithm", "ECDSA", "size", 256), obj("algorithm", "ECDSA"),
		obj("algorithm", "Ed25519", "size", 7), obj("rotationPolicy", "Always", "encoding", "PKCS8"), obj("size", -1), obj(), obj("algorithm", "ECDSA", "size", 521),
		obj("algorithm", "RSA", "size", 1024), obj("size", 8193), obj("algorithm", "ECDSA", "size", 2048), obj("algorithm", "rsa"), obj("algorithm", "DSA", "size", 1024),
	}},
	{"signatureAlgorithm", []any{"SHA256WithRSA", "SHA512WithRSA", "ECDSAWithSHA384", "PureEd25519", "MD5WithRSA", "sha256withrsa", ""}},
	{"duration", []any{"1h", "2160h", "8760h", "24h", "90m", "1h0m0s", "59m", "0s", "-1h"}},
	{"renewBefore", []any{"5m", "30m", "1h", "720h", "4m", "-5m", "0s", "2h", "2160h"}},
	{"renewBeforePercentage", []any{1, 25, 50, 90, 95, 99, 0, 100, -10, 200}},
	{"usages", []any{
		list("digital signature", "key encipherment"), list("server auth"), list("server auth", "client auth", "cert sign"), list(),
		list("signing", "any", "s/mime", "ocsp signing", "code signing", "timestamping", "ipsec end system"),
		list("bogus"), list("Server Auth"), list("server auth", "serverAuth"), list(""),
	}},
	{"revisionHistoryLimit", []any{1, 10, 0, -1}},
	{"isCA", []any{true, false}},
	{"secretTemplate", []any{
		obj("labels", obj("team", "a")), obj("labels", obj("example.com/team", "a")), obj("annotations", obj("example.com/Owner", "team-a")),
		obj("annotations", obj("cert-manager.io/allow-direct-injection", "true")), obj(), obj("labels", obj()),
		obj("labels", obj("bad key", "a")), obj("labels", obj("team", strings.Repeat("v", 64))), obj("labels", obj("team", "-a")),
		obj("annotations", obj("cert-manager.io/issuer-name", "x")), obj("annotations", obj("bad key", "x")),
		obj("annotations", obj("Cert-Manager.io/x", "y", "cert-manager.io/common-name", "z")),
		// The annotations' total size limit, 256 KiB, exactly and one over.
		obj("annotations", obj("big", strings.Repeat("x", 256*1024-3))), obj("annotations", obj("big", strings.Repeat("x", 256*1024-2))),
	}},
	{"nameConstraints", []any{
		obj("permitted", obj("dnsDomains", list("example.com"))), obj("excluded", obj("ipRanges", list("10.0.0.0/8"))),
		obj("critical", true), obj(), obj("permitted", obj(), "excluded", obj()),
	}},
	{"additionalOutputFormats", []any{
		list(obj("type", "DER")), list(obj("type", "DER"), obj("type", "CombinedPEM")), list(),
		list(obj("type", "DER"), obj("type", "DER")), list(obj("type", "CombinedPEM"), obj("type", "CombinedPEM"), obj("type", "CombinedPEM")),
	}},
	{"keystores", []any{
		obj("jks", obj("create", true, "passwordSecretRef", obj("name", "p", "key", "k"))), obj("pkcs12", obj("create", true, "password", "changeit", "profile", "Modern2023")),
		obj(), obj("jks", obj("create", true)), obj("pkcs12", obj("create", true, "passwordSecretRef", obj("key", "k"))),
		obj("jks", obj("create", true, "password", "a", "passwordSecretRef", obj("name", "p"))), obj("pkcs12", obj("create", true, "password", "")),
		obj("pkcs12", obj("create", false, "password", "", "passwordSecretRef", obj("name", "p"))), obj("jks", obj("create", true, "password", "")),
		obj("jks", obj("create", true, "password", "a"), "pkcs12", obj("create", true, "passwordSecretRef", obj("name", "p", "key", "k"))),
	}},
	{"renewal", []any{
		obj("policy", "RenewBefore"), obj("policy", "Disabled"),
		obj("policy", "RenewBefore", "windows", list(obj("cron", "0 2 * * 1-5", "windowDuration", "2h", "timezone", "Europe/Berlin"), obj("cron", "@daily", "windowDuration", "1h"))),
		obj("policy", "RenewBefore", "windows", list()), obj("policy", "Disabled", "windows", list()),
		obj("policy", "Disabled", "windows", list(obj("cron", "0 2 * * *", "windowDuration", "1h"))), obj(), obj("policy", "Sometimes"),
		obj("policy", "disabled", "windows", list(obj("cron", "0 2 * * *"))),
		obj("policy", "RenewBefore", "windows", list(obj("cron", "0 2 * * *", "windowDuration", "1h", "timezone", "Mars/Olympus"))),
		obj("policy", "RenewBefore", "windows", list(obj("cron", "0 2 * *", "windowDuration", "1h"), obj("windowDuration", "1h"), obj("cron", "0 2 * * *"))),
		obj("policy", "RenewBefore", "windows", list(obj("cron", "61 * * * *", "windowDuration", "30m", "timezone", "UTC"))),
	}},
}

func obj(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func list(items ...any) []any { return append([]any{}, items...) }

// inputCertificateCount is how many Certificates
// TestInputCertificatesAgreeWithCertManager generates;
// MESHCERT_FIDELITY_INPUT_CERTIFICATES raises it.
func inputCertificateCount(t *testing.T) int {
	return envNumber(t, "MESHCERT_FIDELITY_INPUT_CERTIFICATES", 3000)
}

// generateInputCertificates writes n Certificates, each a valid one with
// one to four fields set to a random value of inputCertificateFields, and
// the issuers they name, as one YAML stream.
func generateInputCertificates(t *testing.T, r *rand.Rand, n int) []byte {
	t.Helper()
	var docs bytes.Buffer
	docs.WriteString("apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: ca}\nspec: {ca: {secretName: ca}}\n")
	docs.WriteString("---\napiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: ca, namespace: generated}\nspec: {selfSigned: {}}\n")
	for i := range n {
		spec := map[string]any{
			"secretName": fmt.Sprintf("crt-%d-tls", i),
			"issuerRef":  obj("name", "ca", "kind", "ClusterIssuer"),
			"dnsNames":   list(fmt.Sprintf("crt-%d.example.com", i)),
		}
		for range 1 + r.IntN(4) {
			f := inputCertificateFields[r.IntN(len(inputCertificateFields))]
			switch v := pick(r, f.values...).(type) {
			case absent:
				delete(spec, f.field)
			default:
				spec[f.field] = v
			}
		}
		crt := map[string]any{
			"apiVersion": "cert-manager.io/v1",
			"kind":       "Certificate",
			"metadata":   obj("name", fmt.Sprintf("crt-%d", i), "namespace", "generated"),
			"spec":       spec,
		}
		data, err := yaml.Marshal(crt)
		require.NoError(t, err)
		docs.WriteString("---\n")
		docs.Write(data)
	}
	return docs.Bytes()
}

// TestInputCertificatesAgreeWithCertManager runs cert-manager's own
// Certificate validation (the certmanager-oracle) and `meshcert check` on
// the same generated Certificates, as a user would write them: wherever
// cert-manager rejects one, meshcert must report MC3007 on it, at the same
// fields, as often; wherever cert-manager accepts one, meshcert must report
// no MC3007. meshcert's issuer check reports a missing issuerRef name and,
// with a name, an unknown kind as MC5001 instead, so an MC5001 on
// spec.issuerRef stands for those two. Other findings are allowed.
func TestInputCertificatesAgreeWithCertManager(t *testing.T) {
	tools, meshcert := fidelityTools(t)
	start := time.Now()

	seed := envNumber(t, "MESHCERT_FIDELITY_SEED", uint64(17))
	n := inputCertificateCount(t)
	// Kept with the artifacts when `make e2e` names a directory for them,
	// so a disagreement can be looked up by name.
	dir := os.Getenv(framework.ArtifactsEnv)
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o750))
	file := filepath.Join(dir, "input-certificates.yaml")
	require.NoError(t, os.WriteFile(file, generateInputCertificates(t, rand.New(rand.NewPCG(seed, 3)), n), 0o600))

	// cert-manager: the fields of each error, one per error.
	type verdict struct {
		Name   string   `json:"name"`
		Valid  bool     `json:"valid"`
		Errors []string `json:"errors"`
	}
	certManager := map[string]verdict{}
	for line := range bytes.SplitSeq(bytes.TrimSpace(runJSONLines(t, nil, tools.CertManagerOracle, file)), []byte("\n")) {
		var v verdict
		require.NoError(t, json.Unmarshal(line, &v), string(line))
		certManager[v.Name] = v
	}
	require.Len(t, certManager, n, "cert-manager judged every generated Certificate")

	var report struct {
		Findings []meshcertFinding `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(runJSONLines(t, nil, meshcert, "check", "-o", "json", "-f", file), &report))
	rejected := map[string][]string{}   // MC3007 fields by Certificate
	issuerRefError := map[string]bool{} // MC5001 on spec.issuerRef
	for _, f := range report.Findings {
		if f.Object.Kind != "Certificate" {
			continue
		}
		switch {
		case f.Code == "MC3007":
			require.Equal(t, "error", f.Severity, f.Message)
			rejected[f.Object.Name] = append(rejected[f.Object.Name], f.Field)
		case f.Code == "MC5001" && f.Field == "spec.issuerRef":
			issuerRefError[f.Object.Name] = true
		}
	}

	var disagreements []string
	invalid := 0
	for i := range n {
		name := fmt.Sprintf("crt-%d", i)
		v := certManager[name]
		if !v.Valid {
			invalid++
		}
		var want []string
		for _, e := range v.Errors {
			path, _, _ := strings.Cut(e, ": ")
			if issuerRefError[name] && (path == "spec.issuerRef.name" ||
				path == "spec.issuerRef.kind" && !slices.Contains(rejected[name], path)) {
				continue
			}
			want = append(want, path)
		}
		got := slices.Clone(rejected[name])
		slices.Sort(want)
		slices.Sort(got)
		// Equal fields are the verdict too: an invalid Certificate has
		// errors, and where MC5001 stands for all of them it is reported.
		if !slices.Equal(want, got) {
			disagreements = append(disagreements, fmt.Sprintf("%s: cert-manager %s; meshcert MC3007 at %v (MC5001 on issuerRef: %t)",
				name, cmVerdictText(v.Valid, v.Errors), got, issuerRefError[name]))
		}
	}
	// Both verdicts must be common, or the corpus tests little.
	require.Greater(t, invalid, n/4, "too few Certificates cert-manager rejects")
	require.Greater(t, n-invalid, n/10, "too few Certificates cert-manager accepts")
	t.Logf("%d generated Certificates (seed %d): cert-manager rejects %d, accepts %d; %d disagreements (%s)",
		n, seed, invalid, n-invalid, len(disagreements), time.Since(start).Round(time.Millisecond))
	if len(disagreements) > 0 {
		shown := disagreements[:min(30, len(disagreements))]
		t.Errorf("meshcert and cert-manager's validation disagree on %d of %d Certificates (first %d; the input is the Certificate of that name in %s):\n%s",
			len(disagreements), n, len(shown), file, strings.Join(shown, "\n"))
	}
}

func cmVerdictText(valid bool, errs []string) string {
	if valid {
		return "accepts"
	}
	shown := make([]string, len(errs))
	for i, e := range errs {
		if len(e) > 200 {
			e = e[:200] + "…"
		}
		shown[i] = e
	}
	return "rejects: " + strings.Join(shown, "; ")
}
