// Command istio-oracle runs Istio's own code on YAML files and prints its
// verdicts as JSON lines, so meshcert's e2e tests can compare meshcert's
// findings with Istio's (DESIGN.md §10).
//
//	istio-oracle validate [-namespace NS] [-stream] [FILES...]
//	    validation.ValidateGateway on every networking.istio.io Gateway, as
//	    `istioctl validate` does; one line per Gateway. With -stream, one JSON
//	    object per stdin line, each answered by one verdict line at once.
//	istio-oracle analyze [-namespace NS] [-istio-namespace NS] [-mesh-config FILE] [-all-kinds] [-istioctl] [FILES...]
//	    Istio's analyzers on the files, as `istioctl analyze --use-kube=false`
//	    does but keeping Pods and Secrets from the files (unless -istioctl);
//	    one line per message.
//
//	istio-oracle istiooperator [FILES...]
//	    istioctl's IstioOperator validation and the trust anchors istiod
//	    builds from meshConfig.caCertificates, for every IstioOperator; one
//	    line per IstioOperator.
//
//	istio-oracle render [FILES...]
//	    istioctl's renderer (`istioctl manifest generate`, offline) on every
//	    IstioOperator: istiod's namespace, its container env and the mesh
//	    config of the istio ConfigMap; one line per IstioOperator.
//
//	istio-oracle ingress [FILES...]
//	    Istio's Ingress controller, with the default mesh config, on the
//	    Ingresses and IngressClasses of the files: whether istiod serves each
//	    Ingress, on which workload and port-80 hosts; one line per Ingress.
//
//	istio-oracle credentials
//	    istiod's SDS serving (core.BuildListenerTLSContext, the gateway merge,
//	    xds.SecretGen over the kube credentials controller) for one Gateway
//	    server's tls settings and a gateway proxy per stdin JSON line: which
//	    Secret or ConfigMap it serves as the server certificate and as the
//	    client CA; one line per input line, flushed (see credentials.go).
//
//	istio-oracle merge
//	    istiod's Gateway API conversion, gateway merge and listener
//	    generation (Istio's fake discovery server) for the config and the
//	    gateway proxy of each stdin JSON line: which configs istiod applies
//	    to the proxy, which servers it keeps or skips and which SNI matches
//	    its listeners send twice; one line per input line, flushed (see
//	    merge.go).
//
// All read stdin when no file is given. The exit code is 0 whatever the
// verdicts are and 1 when the input cannot be read or parsed.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"istio.io/istio/pkg/log"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "istio-oracle: %v\n", err)
		os.Exit(1)
	}
}

const usage = "usage: istio-oracle validate|analyze|istiooperator|render|ingress|credentials|merge [flags] [FILES...]"

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", usage)
	}
	if err := quietLogs(); err != nil {
		return err
	}
	out := json.NewEncoder(stdout)
	out.SetEscapeHTML(false)
	switch args[0] {
	case "validate":
		fs := flag.NewFlagSet("validate", flag.ContinueOnError)
		fs.SetOutput(stderr)
		// istioctl validate gives namespace-less objects "default" unless -n is set.
		namespace := fs.String("namespace", "default", "namespace of objects that have none")
		stream := fs.Bool("stream", false, "read one JSON object per line from stdin and answer each with one verdict line, flushed")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *stream {
			return validateStream(stdin, stdout, *namespace)
		}
		inputs, err := readInputs(fs.Args(), stdin)
		if err != nil {
			return err
		}
		return validate(inputs, *namespace, out)
	case "ingress":
		inputs, err := readInputs(args[1:], stdin)
		if err != nil {
			return err
		}
		return servedIngresses(inputs, out)
	case "analyze":
		fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
		fs.SetOutput(stderr)
		var opts analyzeOptions
		fs.StringVar(&opts.namespace, "namespace", "",
			"report only this namespace and give it to namespace-less objects, like istioctl's -n (default: all namespaces, like -A)")
		fs.StringVar(&opts.istioNamespace, "istio-namespace", "istio-system", "Istio's namespace (where the mesh config lives)")
		fs.StringVar(&opts.meshConfig, "mesh-config", "", "MeshConfig YAML file, like istioctl's --meshConfigFile (default: Istio's defaults)")
		fs.BoolVar(&opts.allKinds, "all-kinds", false, "print messages about every resource, not only networking.istio.io Gateways")
		fs.BoolVar(&opts.istioctl, "istioctl", false,
			"read the files exactly as `istioctl analyze --use-kube=false` does: ignore Pods, Secrets, Services, Namespaces and Nodes in them, add Istio's default ingress resources")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		inputs, err := readInputs(fs.Args(), stdin)
		if err != nil {
			return err
		}
		return analyze(inputs, opts, out, stderr)
	case "istiooperator":
		inputs, err := readInputs(args[1:], stdin)
		if err != nil {
			return err
		}
		return istioOperators(inputs, out)
	case "render":
		inputs, err := readInputs(args[1:], stdin)
		if err != nil {
			return err
		}
		return renderOperators(inputs, out)
	case "credentials":
		if len(args) > 1 {
			return fmt.Errorf("credentials reads stdin only; %s", usage)
		}
		return credentialsStream(stdin, stdout)
	case "merge":
		if len(args) > 1 {
			return fmt.Errorf("merge reads stdin only; %s", usage)
		}
		return mergeStream(stdin, stdout)
	default:
		return fmt.Errorf("unknown subcommand %q; %s", args[0], usage)
	}
}

// input is one file's content; the name is echoed in the verdicts.
type input struct {
	name string
	data []byte
}

func readInputs(files []string, stdin io.Reader) ([]input, error) {
	if len(files) == 0 {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("failed to read stdin: %w", err)
		}
		return []input{{name: "-", data: data}}, nil
	}
	inputs := make([]input, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("failed to read input: %w", err)
		}
		inputs = append(inputs, input{name: f, data: data})
	}
	return inputs, nil
}

// quietLogs sets Istio's log levels as istioctl does (istioctl/pkg/root):
// stdout carries verdicts only, and the analyzer's info lines on stderr
// ("aggregate/Pod synced", one per collection) would bury real warnings.
func quietLogs() error {
	o := log.DefaultOptions()
	o.SetDefaultOutputLevel(log.OverrideScopeName, log.WarnLevel)
	for _, scope := range []string{"validation", "processing", "kube"} {
		o.SetDefaultOutputLevel(scope, log.ErrorLevel)
	}
	// The trust bundle's refusals are verdicts (trustBundleError), not news.
	o.SetDefaultOutputLevel("trustBundle", log.NoneLevel)
	// stdout carries the verdicts only.
	o.OutputPaths = []string{"stderr"}
	if err := log.Configure(o); err != nil {
		return fmt.Errorf("failed to configure Istio's logging: %w", err)
	}
	return nil
}
