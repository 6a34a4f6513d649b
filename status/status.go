// Package status says what serves each Gateway's TLS, for `meshcert
// status`: Gateway → server or listener → credential → Certificate → its
// readiness, expiry, renewal and issuer → the findings about them. It is
// pure: the objects read from the cluster and what the planner made of them
// in, rows out.
package status

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/gatewayapi"
)

// Gateway is an Istio Gateway as the cluster holds it and what the planner
// decided for it.
type Gateway struct {
	Gateway *certs.Gateway
	// Managed is true when meshcert owns its Certificates.
	Managed bool
	// CredentialNamespaces are where its credentials must live.
	CredentialNamespaces []string
	// Certified are the Secrets meshcert's Certificates write for it,
	// namespace/name: only those are Missing without a Certificate.
	Certified []string
}

// Input is what `meshcert status` read and planned.
type Input struct {
	Gateways []Gateway
	// APIGateways are Gateway API Gateways; Managed says whether
	// cert-manager's gateway-shim (or meshcert in its place) gives it
	// Certificates (an issuer annotation).
	APIGateways []APIGateway
	// Certificates are every Certificate read.
	Certificates []*cmapi.Certificate
	// Findings are the planner's findings about the objects read.
	Findings []finding.Finding
	// ShimCertified are the Secrets cert-manager's gateway-shim is to
	// write for the Gateway API Gateways and has not yet, namespace/name.
	ShimCertified []string
	// Unreadable are namespaces whose Certificates could not be listed.
	Unreadable map[string]bool
}

// APIGateway is a Gateway API Gateway.
type APIGateway struct {
	Gateway *gatewayapi.Object
	Managed bool
}

// Ready states of a row.
const (
	// ReadyTrue: the Certificate is Ready.
	ReadyTrue = "True"
	// ReadyFalse: the Certificate exists and is not Ready.
	ReadyFalse = "False"
	// ReadyUnknown: the Certificate has no Ready condition yet.
	ReadyUnknown = "Unknown"
	// ReadyMissing: a Certificate should provide the credential and none does.
	ReadyMissing = "Missing"
	// ReadyNotManaged: no Certificate is expected (a Secret someone else
	// writes, say); nothing to judge.
	ReadyNotManaged = "-"
	// ReadyUnreadable: the Certificates of the credential's namespace could
	// not be listed with the user's permissions.
	ReadyUnreadable = "Unreadable"
)

// Row is one credential of one server or listener.
type Row struct {
	Gateway finding.ObjectRef `json:"gateway"`
	// Server is the server's name (else its port's) and port number, or
	// the listener's name.
	Server string `json:"server"`
	// Credential is the Secret istiod reads, namespace/name.
	Credential string `json:"credential"`
	// Certificate is the Certificate writing it, namespace/name, or "".
	Certificate string     `json:"certificate,omitempty"`
	Ready       string     `json:"ready"`
	Reason      string     `json:"reason,omitempty"`
	NotAfter    *time.Time `json:"notAfter,omitempty"`
	RenewalTime *time.Time `json:"renewalTime,omitempty"`
	Issuer      string     `json:"issuer,omitempty"`
	Findings    []string   `json:"findings,omitempty"`
	path        string     // the server's field path, to attach findings
	crt         finding.ObjectRef
}

// Status is what `meshcert status` prints.
type Status struct {
	Rows     []Row             `json:"rows"`
	Findings []finding.Finding `json:"findings"`
}

// NotReady counts the rows whose Certificate is missing or not Ready.
func (s *Status) NotReady() int {
	n := 0
	for _, r := range s.Rows {
		if r.Ready != ReadyTrue && r.Ready != ReadyNotManaged && r.Ready != ReadyUnreadable {
			n++
		}
	}
	return n
}

// Unreadable counts the rows whose Certificate could not be looked for.
func (s *Status) Unreadable() int {
	n := 0
	for _, r := range s.Rows {
		if r.Ready == ReadyUnreadable {
			n++
		}
	}
	return n
}

// Build makes the rows: one per credential of every TLS server of the
// Gateways and every terminating listener of the Gateway API Gateways.
func Build(in Input) *Status {
	byCredential := map[string][]*cmapi.Certificate{}
	for _, crt := range in.Certificates {
		key := crt.Namespace + "/" + crt.Spec.SecretName
		byCredential[key] = append(byCredential[key], crt)
	}
	s := &Status{Rows: []Row{}, Findings: slices.Clone(in.Findings)}
	for _, g := range in.Gateways {
		s.Rows = append(s.Rows, gatewayRows(g, byCredential, in.Unreadable)...)
	}
	for _, g := range in.APIGateways {
		s.Rows = append(s.Rows, listenerRows(g, byCredential, in.ShimCertified, in.Unreadable)...)
	}
	for i := range s.Rows {
		s.Rows[i].Findings = findingCodes(in.Findings, s.Rows[i])
	}
	if s.Findings == nil {
		s.Findings = []finding.Finding{}
	}
	return s
}

func gatewayRows(g Gateway, byCredential map[string][]*cmapi.Certificate, unreadable map[string]bool) []Row {
	var rows []Row
	for _, srv := range g.Gateway.Servers {
		if srv.TLS == nil {
			continue
		}
		for _, ref := range srv.TLS.Credentials() {
			namespaces := g.CredentialNamespaces
			if len(namespaces) == 0 {
				namespaces = []string{""}
			}
			for _, ns := range namespaces {
				cred := certs.ResolveCredential(ref, ns, g.Gateway.Namespace)
				if cred.Kind != certs.CredentialSecret {
					continue
				}
				row := Row{
					Gateway:    g.Gateway.Ref,
					Server:     serverName(srv),
					Credential: cred.Namespace + "/" + cred.Name,
					path:       fmt.Sprintf("spec.servers[%d]", srv.Index),
				}
				expected := g.Managed && slices.Contains(g.Certified, row.Credential)
				fill(&row, pick(byCredential[row.Credential], g.Gateway), expected, unreadable[cred.Namespace])
				rows = append(rows, row)
			}
		}
	}
	return rows
}

func listenerRows(g APIGateway, byCredential map[string][]*cmapi.Certificate, shimCertified []string, unreadable map[string]bool) []Row {
	var rows []Row
	for _, l := range g.Gateway.Listeners {
		if l.TLS == nil || (l.TLS.Mode != nil && *l.TLS.Mode != gwapi.TLSModeTerminate) {
			continue
		}
		for _, ref := range l.TLS.CertificateRefs {
			if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != "Secret") {
				continue
			}
			ns := g.Gateway.Namespace
			if ref.Namespace != nil {
				ns = string(*ref.Namespace)
			}
			row := Row{
				Gateway:    g.Gateway.Ref,
				Server:     l.Name,
				Credential: ns + "/" + string(ref.Name),
				path:       l.Path().String(),
			}
			expected := g.Managed && slices.Contains(shimCertified, row.Credential)
			fill(&row, pick(byCredential[row.Credential], nil), expected, unreadable[ns])
			rows = append(rows, row)
		}
	}
	return rows
}

// pick chooses the Certificate writing a credential: the one meshcert made
// for this Gateway, else the first (two writing one Secret is a finding of
// its own).
func pick(crts []*cmapi.Certificate, gw *certs.Gateway) *cmapi.Certificate {
	if len(crts) == 0 {
		return nil
	}
	if gw != nil {
		for _, crt := range crts {
			if crt.Labels[certs.LabelGatewayNamespace] == gw.Namespace && crt.Labels[certs.LabelGatewayName] == gw.Name {
				return crt
			}
		}
	}
	return crts[0]
}

// fill completes a row from the Certificate writing its credential: a
// missing one is Missing where one is expected, Unreadable where the
// namespace's Certificates could not be listed.
func fill(row *Row, crt *cmapi.Certificate, expected, unreadable bool) {
	if crt == nil {
		switch {
		case unreadable:
			row.Ready, row.Reason = ReadyUnreadable, "the Certificates of this namespace could not be listed"
		case expected:
			row.Ready, row.Reason = ReadyMissing, "no Certificate writes this Secret"
		default:
			row.Ready = ReadyNotManaged
		}
		return
	}
	row.Certificate = crt.Namespace + "/" + crt.Name
	row.crt = certs.CertificateRef(crt)
	row.Issuer = issuerName(crt.Spec.IssuerRef)
	row.Ready = ReadyUnknown
	for _, c := range crt.Status.Conditions {
		if c.Type != cmapi.CertificateConditionReady {
			continue
		}
		row.Ready = string(c.Status)
		if c.Status != cmmeta.ConditionTrue {
			row.Reason = strings.TrimSpace(c.Reason + ": " + c.Message)
		}
		if c.ObservedGeneration != 0 && c.ObservedGeneration < crt.Generation {
			// cert-manager has not looked at the latest spec yet.
			row.Ready = ReadyUnknown
			row.Reason = fmt.Sprintf("the Ready condition is of generation %d, the Certificate is at %d", c.ObservedGeneration, crt.Generation)
		}
	}
	if crt.Status.NotAfter != nil {
		t := crt.Status.NotAfter.UTC()
		row.NotAfter = &t
	}
	if crt.Status.RenewalTime != nil {
		t := crt.Status.RenewalTime.UTC()
		row.RenewalTime = &t
	}
}

func issuerName(ref cmmeta.IssuerReference) string {
	kind := ref.Kind
	if kind == "" {
		kind = "Issuer"
	}
	if ref.Group != "" && ref.Group != "cert-manager.io" {
		kind += "." + ref.Group
	}
	return kind + "/" + ref.Name
}

// serverName is the server's name, else its port's, with the port number.
func serverName(srv certs.Server) string {
	name := cmp.Or(srv.Name, srv.Port.Name)
	if name == "" {
		name = "server-" + strconv.Itoa(srv.Index)
	}
	return name + ":" + strconv.FormatInt(srv.Port.Number, 10)
}

// findingCodes lists the codes of the findings about a row: its server or
// listener, the Gateway as a whole, and its Certificate.
func findingCodes(findings []finding.Finding, row Row) []string {
	var codes []string
	for _, f := range findings {
		about := (f.Object == row.Gateway && (f.Field == row.path || strings.HasPrefix(f.Field, row.path+".") || !strings.HasPrefix(f.Field, "spec.servers[") && !strings.HasPrefix(f.Field, "spec.listeners["))) ||
			(row.Certificate != "" && f.Object == row.crt)
		if about && !slices.Contains(codes, string(f.Code)) {
			codes = append(codes, string(f.Code))
		}
	}
	slices.Sort(codes)
	return codes
}
