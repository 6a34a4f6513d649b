package app

import (
	"context"
	"errors"
	"fmt"
	"slices"

	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/manifest"
	"github.com/meshcert/meshcert/offline"
)

// plannerFlags are the planner settings shared by inject, check and serve.
type plannerFlags struct {
	defaultIssuerName          string
	defaultIssuerKind          string
	defaultIssuerGroup         string
	defaultCredentialNamespace string
	clusterResourceNamespace   string
	namespacePolicy            policyModeFlag
}

// policyModeFlag is --namespace-policy, refusing a value that is no mode.
type policyModeFlag certs.PolicyMode

func (m *policyModeFlag) String() string { return string(*m) }
func (m *policyModeFlag) Type() string   { return "mode" }
func (m *policyModeFlag) Set(v string) error {
	if !slices.Contains(certs.PolicyModes, certs.PolicyMode(v)) {
		return fmt.Errorf("%q is not a namespace policy mode; use %q or %q", v, certs.PolicyRequired, certs.PolicyOptional)
	}
	*m = policyModeFlag(v)
	return nil
}

func (f *plannerFlags) addTo(fs *pflag.FlagSet) {
	def := certs.DefaultOptions()
	fs.StringVar(&f.defaultIssuerName, "default-issuer-name", "",
		"issuer for Gateways without an issuer annotation in namespaces labelled meshcert.io/inject=enabled (empty: none)")
	fs.StringVar(&f.defaultIssuerKind, "default-issuer-kind", def.DefaultIssuer.Kind, "kind of the default issuer")
	fs.StringVar(&f.defaultIssuerGroup, "default-issuer-group", def.DefaultIssuer.Group, "API group of the default issuer")
	fs.StringVar(&f.defaultCredentialNamespace, "default-credential-namespace", def.DefaultCredentialNamespace,
		"namespace for credentials when no gateway workload matching a Gateway's selector is known")
	fs.StringVar(&f.clusterResourceNamespace, "cluster-resource-namespace", certs.DefaultClusterResourceNamespace,
		"cert-manager's --cluster-resource-namespace, where the Secrets of ClusterIssuers live")
	f.namespacePolicy = policyModeFlag(def.NamespacePolicy)
	fs.Var(&f.namespacePolicy, "namespace-policy",
		"required: a namespace without the meshcert.io/allowed-hosts and allowed-issuers annotations gets nothing; optional: only annotated namespaces are restricted")
}

func (f *plannerFlags) options() certs.Options {
	return certs.Options{
		DefaultIssuer: cmmeta.IssuerReference{
			Name:  f.defaultIssuerName,
			Kind:  f.defaultIssuerKind,
			Group: f.defaultIssuerGroup,
		},
		DefaultCredentialNamespace: f.defaultCredentialNamespace,
		ClusterResourceNamespace:   f.clusterResourceNamespace,
		NamespacePolicy:            certs.PolicyMode(f.namespacePolicy),
	}
}

// inputFlags are the manifest inputs of inject and check.
type inputFlags struct {
	files         []string
	namespace     string
	stdinFilename string
}

func (f *inputFlags) addTo(fs *pflag.FlagSet) {
	fs.StringSliceVarP(&f.files, "filename", "f", nil,
		"manifest file, directory (read recursively for .yaml, .yml and .json, Helm charts skipped) or - for stdin; repeatable")
	fs.StringVarP(&f.namespace, "namespace", "n", "default", "namespace of objects that name none, as kubectl would apply them")
	fs.StringVar(&f.stdinFilename, "stdin-filename", "", "the path findings of the input read from stdin (-f -) are reported at, e.g. the file a rendered chart is kept in; SARIF needs one")
}

// planInput reads the inputs and plans them: with plan, offline.PlanObjects
// or offline.CheckObjects. Unreadable input is an exitInput error naming
// the file and line.
func planInput(cmd *cobra.Command, in inputFlags, opts certs.Options, plan planFunc) ([]*manifest.Object, *offline.Result, error) {
	if len(in.files) == 0 {
		return nil, nil, &exitError{code: exitInput, err: errors.New("no input: pass -f with a file, a directory or - for stdin")}
	}
	objs, err := manifest.Read(in.files, cmd.InOrStdin())
	if err != nil {
		return nil, nil, &exitError{code: exitInput, err: err}
	}
	if in.stdinFilename != "" {
		for _, o := range objs {
			if o.File == manifest.StdinName {
				o.File = in.stdinFilename
			}
		}
	}
	res, err := plan(cmd.Context(), manifest.Unstructured(objs), opts, in.namespace)
	if err != nil {
		var objErr *offline.ObjectError
		if errors.As(err, &objErr) {
			o := objs[objErr.Index]
			err = fmt.Errorf("%s:%d: %w", o.File, o.Line, objErr.Err)
		}
		return nil, nil, &exitError{code: exitInput, err: err}
	}
	for i, o := range objs {
		for _, dup := range o.DuplicateKeys() {
			res.Findings = append(res.Findings, offline.ObjectFinding{Index: i, Finding: offline.DuplicateKeyFinding(o.Object, dup.Path, dup.Lines)})
		}
	}
	return objs, res, nil
}

// planFunc is offline.PlanObjects or offline.CheckObjects.
type planFunc func(ctx context.Context, objs []*unstructured.Unstructured, opts certs.Options, defaultNamespace string) (*offline.Result, error)
