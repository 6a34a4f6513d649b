package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/gatewayapi"
	"github.com/meshcert/meshcert/offline"
	"github.com/meshcert/meshcert/report"
	"github.com/meshcert/meshcert/status"
)

// kubeFlags are the kubectl-style flags of the commands that read the
// cluster with the user's own credentials.
type kubeFlags struct {
	kubeconfig    string
	context       string
	namespace     string
	allNamespaces bool
}

func (f *kubeFlags) addTo(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.context, "context", "", "kubeconfig context to use")
	fs.StringVarP(&f.namespace, "namespace", "n", "", "namespace to show (default: the context's namespace)")
	fs.BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "show every namespace")
}

// client builds a client from the kubeconfig and says which namespace to
// show ("" for all).
func (f *kubeFlags) client() (client.Client, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: f.context}
	overrides.Context.Namespace = f.namespace
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("failed to load the kubeconfig: %w", err)
	}
	namespace, _, err := loader.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("failed to read the context's namespace: %w", err)
	}
	if f.allNamespaces {
		namespace = ""
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, "", fmt.Errorf("failed to create a client for %s: %w", cfg.Host, err)
	}
	return c, namespace, nil
}

const statusLong = `status reads Gateways (Istio's and the Gateway API's), their
Certificates and what they depend on from the cluster, with your own
credentials, and shows what serves each Gateway's TLS: server or listener,
the Secret istiod reads, the Certificate writing it, whether it is Ready,
when it expires and renews, its issuer, and the findings meshcert's checks
have about them now.

Exit code 0: every Certificate meshcert expects is Ready; 1: one is
missing or not Ready; 2: the cluster cannot be read, or the Certificates of
a credential's namespace cannot.

As a kubectl plugin (a copy or link of the binary named kubectl-meshcert on
PATH): kubectl meshcert status.`

func newStatusCommand() *cobra.Command {
	var kube kubeFlags
	var planner plannerFlags
	output := "text"
	cmd := &cobra.Command{
		Use:   "status [GATEWAY]",
		Short: "Show each Gateway's credentials, Certificates, readiness, expiry and findings from the cluster",
		Long:  statusLong,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains([]string{"text", "json", "yaml"}, output) {
				return &exitError{code: exitInput, err: fmt.Errorf("unknown output format %q: use text, json or yaml", output)}
			}
			c, namespace, err := kube.client()
			if err != nil {
				return &exitError{code: exitInput, err: err}
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
				if namespace == "" {
					return &exitError{code: exitInput, err: errors.New("a Gateway is named within a namespace: use -n NAMESPACE, not -A")}
				}
			}
			read, err := readCluster(cmd.Context(), c, namespace, name, planner)
			if err != nil {
				return &exitError{code: exitInput, err: err}
			}
			st, err := planStatus(cmd.Context(), read, planner)
			if err != nil {
				return &exitError{code: exitInput, err: err}
			}
			for _, note := range read.notes {
				fmt.Fprintf(cmd.ErrOrStderr(), "Note: %s\n", note)
			}
			if err := writeStatus(cmd.OutOrStdout(), output, st); err != nil {
				return &exitError{code: exitInput, err: err}
			}
			if n := st.Unreadable(); n > 0 {
				return &exitError{code: exitInput, err: fmt.Errorf("%d credentials whose Certificates could not be read", n)}
			}
			if n := st.NotReady(); n > 0 {
				return &exitError{code: exitFindings, err: fmt.Errorf("%d credentials without a Ready Certificate", n)}
			}
			return nil
		},
	}
	kube.addTo(cmd)
	planner.addTo(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", output, "output format: text, json or yaml")
	return cmd
}

// The kinds status reads. Those in scope are listed in the namespace shown;
// the others wherever the user may list them.
var (
	// Istio serves networking.istio.io/v1 from 1.22; earlier, v1beta1.
	istioGatewayKinds = []schema.GroupVersionKind{
		{Group: "networking.istio.io", Version: "v1", Kind: "GatewayList"},
		{Group: "networking.istio.io", Version: "v1beta1", Kind: "GatewayList"},
	}
	apiGatewayKind     = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "GatewayList"}
	certificateKind    = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "CertificateList"}
	issuerKind         = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "IssuerList"}
	clusterIssuerKind  = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "ClusterIssuerList"}
	namespaceKind      = schema.GroupVersionKind{Version: "v1", Kind: "NamespaceList"}
	podKind            = schema.GroupVersionKind{Version: "v1", Kind: "PodList"}
	gatewayPodSelector = "istio"
)

// clusterRead is what status could read, and notes on what it could not.
type clusterRead struct {
	gateways []*unstructured.Unstructured // in scope: Istio and Gateway API
	others   []*unstructured.Unstructured // what they depend on
	// partial is set when a kind the checks depend on could not be read,
	// so "not found" findings would be guesses.
	partial bool
	// unreadable are namespaces whose Certificates could not be listed.
	unreadable map[string]bool
	notes      []string
}

// readCluster reads the Gateways in scope and what judging them needs. The
// Certificates and Issuers live where credentials live, often not beside
// the Gateway: all of them are listed if the user may, else those of the
// namespaces the planner puts the credentials in.
func readCluster(ctx context.Context, c client.Client, namespace, name string, planner plannerFlags) (*clusterRead, error) {
	r := &clusterRead{unreadable: map[string]bool{}}
	for _, kinds := range [][]schema.GroupVersionKind{istioGatewayKinds, {apiGatewayKind}} {
		items, err := listFirstServed(ctx, c, kinds, namespace)
		switch {
		case meta.IsNoMatchError(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("failed to list the Gateways of %s: %w", kinds[0].Group, err)
		}
		for _, u := range items {
			if name == "" || u.GetName() == name {
				r.gateways = append(r.gateways, u)
			}
		}
	}
	if name != "" && len(r.gateways) == 0 {
		return nil, fmt.Errorf("no Gateway %s/%s (Istio or Gateway API) found", namespace, name)
	}

	for _, read := range []struct {
		gvk      schema.GroupVersionKind
		selector string
		what     string
	}{
		{clusterIssuerKind, "", "ClusterIssuers"},
		{namespaceKind, "", "Namespaces"},
		{podKind, gatewayPodSelector, "gateway Pods"},
	} {
		items, err := listSelected(ctx, c, read.gvk, "", read.selector)
		if err != nil {
			r.partial = true
			r.notef("cannot list %s (%v): findings that something is not found are left out", read.what, reason(err))
			continue
		}
		r.others = append(r.others, items...)
	}

	namespaces, err := credentialNamespaces(ctx, r, namespace, planner)
	if err != nil {
		return nil, err
	}
	certificates, unreadable := listEverywhereOr(ctx, c, certificateKind, namespaces)
	for _, ns := range unreadable {
		r.unreadable[ns] = true
		r.notef("cannot list Certificates in %s: their credentials show as Unreadable", ns)
	}
	issuers, unreadable := listEverywhereOr(ctx, c, issuerKind, namespaces)
	if len(unreadable) > 0 {
		r.partial = true
		r.notef("cannot list Issuers in %s: findings that something is not found are left out", strings.Join(unreadable, ", "))
	}
	r.others = append(append(r.others, certificates...), issuers...)
	return r, nil
}

// credentialNamespaces plans what was read so far to learn where the
// Gateways' credentials live, beside the namespace shown, the default
// credential namespace and those meshcert.io/credential-namespace names.
func credentialNamespaces(ctx context.Context, r *clusterRead, namespace string, planner plannerFlags) ([]string, error) {
	opts := planner.options()
	out := []string{opts.DefaultCredentialNamespace}
	if namespace != "" {
		out = append(out, namespace)
	}
	for _, gw := range r.gateways {
		out = append(out, gw.GetNamespace())
		if ns := gw.GetAnnotations()[certs.AnnotationCredentialNamespace]; ns != "" {
			out = append(out, ns)
		}
	}
	res, err := offline.CheckObjects(ctx, append(slices.Clone(r.gateways), r.others...), opts, "default")
	if err != nil {
		return nil, fmt.Errorf("failed to plan what was read: %w", err)
	}
	for _, p := range res.Gateways {
		out = append(out, p.CredentialNamespaces...)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// listEverywhereOr lists gvk in every namespace, or, where the user may not,
// in each of namespaces, and says which of those could not be listed.
func listEverywhereOr(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, namespaces []string) ([]*unstructured.Unstructured, []string) {
	items, err := list(ctx, c, gvk, "")
	if err == nil || meta.IsNoMatchError(err) {
		return items, nil
	}
	var unreadable []string
	items = nil
	for _, ns := range namespaces {
		found, err := list(ctx, c, gvk, ns)
		if err != nil {
			unreadable = append(unreadable, ns)
			continue
		}
		items = append(items, found...)
	}
	return items, unreadable
}

// listFirstServed lists the first of kinds (versions of one kind) the API
// server serves.
func listFirstServed(ctx context.Context, c client.Client, kinds []schema.GroupVersionKind, namespace string) ([]*unstructured.Unstructured, error) {
	var err error
	for _, gvk := range kinds {
		var items []*unstructured.Unstructured
		if items, err = list(ctx, c, gvk, namespace); !meta.IsNoMatchError(err) {
			return items, err
		}
	}
	return nil, err
}

func (r *clusterRead) notef(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func reason(err error) string {
	if s := apierrors.ReasonForError(err); s != metav1.StatusReasonUnknown {
		return strings.ToLower(string(s))
	}
	if meta.IsNoMatchError(err) {
		return "not installed"
	}
	return err.Error()
}

func list(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, namespace string) ([]*unstructured.Unstructured, error) {
	return listSelected(ctx, c, gvk, namespace, "")
}

func listSelected(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, namespace, selector string) ([]*unstructured.Unstructured, error) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(gvk)
	opts := []client.ListOption{client.InNamespace(namespace)}
	if selector != "" {
		opts = append(opts, client.HasLabels{selector})
	}
	if err := c.List(ctx, l, opts...); err != nil {
		return nil, err //nolint:wrapcheck // The caller names the kind.
	}
	out := make([]*unstructured.Unstructured, len(l.Items))
	for i := range l.Items {
		out[i] = &l.Items[i]
	}
	return out, nil
}

// unjudged are the findings status cannot make: it reads no Secret and no
// ConfigMap (their contents are not the user's to see, and listing them is
// rarely allowed), so a credential or trust bundle not found is no finding.
var unjudged = map[finding.Code]bool{
	finding.CodeCredentialNotFound:  true,
	finding.CodeTrustBundleNotFound: true,
}

// planStatus runs the planner over what was read, as `meshcert check` runs
// it over files, and builds the rows.
func planStatus(ctx context.Context, read *clusterRead, planner plannerFlags) (*status.Status, error) {
	objs := append(slices.Clone(read.gateways), read.others...)
	opts := planner.options()
	// The CLI's input is rarely the whole cluster; here it is what the
	// cluster holds, and the namespaces' policies apply as in the server.
	res, err := offline.CheckObjects(ctx, objs, opts, "default")
	if err != nil {
		return nil, fmt.Errorf("failed to plan what was read: %w", err)
	}
	in := status.Input{Unreadable: read.unreadable}
	for _, crt := range res.ShimCertificates {
		in.ShimCertified = append(in.ShimCertified, crt.Namespace+"/"+crt.Spec.SecretName)
	}
	planned := map[int]offline.GatewayPlan{}
	for _, p := range res.Gateways {
		planned[p.Index] = p
	}
	for i, u := range read.gateways {
		gvk := u.GroupVersionKind()
		switch {
		case certs.IsGateway(gvk):
			p := planned[i]
			in.Gateways = append(in.Gateways, status.Gateway{Gateway: certs.ParseGateway(u), Managed: p.Managed, CredentialNamespaces: p.CredentialNamespaces, Certified: p.Certified})
		case gatewayapi.Is(gvk):
			o, err := gatewayapi.Parse(u)
			if err != nil {
				return nil, fmt.Errorf("failed to read %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
			}
			annotations := u.GetAnnotations()
			managed := annotations[cmapi.IngressIssuerNameAnnotationKey] != "" || annotations[cmapi.IngressClusterIssuerNameAnnotationKey] != ""
			in.APIGateways = append(in.APIGateways, status.APIGateway{Gateway: o, Managed: managed})
		}
	}
	for _, u := range read.others {
		if !certs.IsCertificate(u.GroupVersionKind()) {
			continue
		}
		crt := &cmapi.Certificate{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, crt); err != nil {
			return nil, fmt.Errorf("failed to read Certificate %s/%s: %w", u.GetNamespace(), u.GetName(), err)
		}
		in.Certificates = append(in.Certificates, crt)
	}
	for _, f := range res.Findings {
		// Findings about the Gateways shown and the Certificates behind
		// them; with part of the cluster unreadable, "not found" may be
		// wrong and is left out.
		if f.Index < 0 || f.Index >= len(objs) {
			continue
		}
		if info, _ := finding.Info(f.Code); read.partial && info.Lenient || unjudged[f.Code] {
			continue
		}
		if f.Index < len(read.gateways) || certs.IsCertificate(objs[f.Index].GroupVersionKind()) {
			in.Findings = append(in.Findings, f.Finding)
		}
	}
	st := status.Build(in)
	// Only the Certificates of the rows shown have their findings shown.
	shown := map[string]bool{}
	for _, row := range st.Rows {
		shown[row.Certificate] = true
	}
	st.Findings = slices.DeleteFunc(st.Findings, func(f finding.Finding) bool {
		return f.Object.Kind == "Certificate" && !shown[f.Object.Namespace+"/"+f.Object.Name]
	})
	return st, nil
}

func writeStatus(w io.Writer, output string, st *status.Status) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return fmt.Errorf("failed to encode the status: %w", err)
		}
		return nil
	case "yaml":
		data, err := sigsyaml.Marshal(st)
		if err != nil {
			return fmt.Errorf("failed to encode the status: %w", err)
		}
		_, err = w.Write(data)
		if err != nil {
			return fmt.Errorf("failed to write the status: %w", err)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GATEWAY\tSERVER\tCREDENTIAL\tCERTIFICATE\tREADY\tNOT AFTER\tRENEWAL\tISSUER\tFINDINGS")
	for _, r := range st.Rows {
		cells := []string{r.Gateway.String(), r.Server, r.Credential, dash(r.Certificate), r.Ready,
			timeOrDash(r.NotAfter), timeOrDash(r.RenewalTime), dash(r.Issuer), dash(strings.Join(r.Findings, ","))}
		for i, c := range cells {
			// What the cluster holds cannot break the table or the terminal.
			cells[i] = report.Printable(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("failed to write the status: %w", err)
	}
	if len(st.Rows) == 0 {
		if _, err := fmt.Fprintln(w, "No Gateway with TLS credentials found."); err != nil {
			return fmt.Errorf("failed to write the status: %w", err)
		}
	}
	for _, r := range st.Rows {
		if r.Reason != "" {
			if _, err := fmt.Fprintln(w, report.Printable(fmt.Sprintf("%s %s: %s", r.Gateway, r.Credential, r.Reason))); err != nil {
				return fmt.Errorf("failed to write the status: %w", err)
			}
		}
	}
	if len(st.Findings) > 0 {
		rep := &report.Report{}
		for _, f := range st.Findings {
			rep.Findings = append(rep.Findings, report.Finding{Finding: f, ObjectIndex: -1})
		}
		if _, err := fmt.Fprintln(w, "\nFindings:"); err != nil {
			return fmt.Errorf("failed to write the status: %w", err)
		}
		return report.Write(w, report.Text, rep) //nolint:wrapcheck // It says what failed.
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
