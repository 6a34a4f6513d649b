// Command demo shows meshcert end to end on a fresh local control plane:
// it starts etcd, kube-apiserver, kube-controller-manager and cert-manager,
// runs `meshcert serve` with its webhooks registered by URL, applies the
// repository's examples/ with kubectl, and prints what happened: the
// injected credentialName, the generated Certificate going Ready and the
// DNS names of the issued certificate. Then, beside it, a Gateway API
// Gateway (examples/gatewayapi/): meshcert inject's prediction of the
// Certificate cert-manager's gateway-shim creates, the shim creating that
// very Certificate and its Secret issued. Everything it started is stopped
// before it exits. `make demo` runs it.
package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshcert/meshcert/e2e/framework"
)

func main() {
	examples := flag.String("examples", "examples", "Directory of manifests to apply.")
	dir := flag.String("dir", "", "Directory for the control plane's logs (default: a new temporary directory).")
	acme := flag.Bool("acme", false, "Also issue a Gateway's certificate from a local ACME server (Pebble) over HTTP-01 through Istio's IngressClass; binds 127.0.0.1:80.")
	flag.Parse()
	if err := run(*examples, *dir, *acme); err != nil {
		log.Fatal(err)
	}
}

func run(examples, dir string, acme bool) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if dir == "" {
		if dir, err = os.MkdirTemp("", "meshcert-demo-"); err != nil {
			return fmt.Errorf("failed to create a directory: %w", err)
		}
	}

	step("Starting a local control plane (etcd, kube-apiserver with the Gateway API CRDs, kube-controller-manager, cert-manager with its gateway-shim)")
	cp, err := framework.StartContext(ctx, framework.Config{
		Dir: dir, ACME: acme, Logf: func(string, ...any) {},
		ExtraCertManagerControllers: []string{framework.GatewayShimController},
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cp.Stop()) }()
	fmt.Printf("   ready in %s; logs in %s\n", cp.StartDuration.Round(time.Millisecond), dir)

	step("Starting meshcert serve; its webhooks are registered with the API server by URL")
	m, err := cp.StartMeshcert(ctx, framework.MeshcertConfig{LeaderElect: true})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, m.Stop()) }()
	fmt.Printf("   webhooks at %s, metrics at %s\n", m.WebhookURL, m.MetricsURL)

	step("kubectl apply -f " + examples)
	var out string
	if err := retry(ctx, func() error {
		// A fresh namespace gets its default ServiceAccount a moment later,
		// and Pods wait for it.
		var err error
		out, err = kubectl(ctx, cp, "apply", "-f", examples)
		return err
	}); err != nil {
		return err
	}
	fmt.Print(indent(out))

	step("The Gateway as stored: meshcert's webhook injected the credentialName")
	credential, err := kubectl(ctx, cp, "get", "gateways.networking.istio.io", "-n", "team-a", "shop",
		"-o", "jsonpath={.spec.servers[0].tls.credentialName}")
	if err != nil {
		return err
	}
	fmt.Printf("   spec.servers[0].tls.credentialName: %s\n", credential)

	step("meshcert's controller created the Certificate in istio-system, where the gateway pods read it")
	if _, err := waitReady(ctx, cp, "istio-system", credential); err != nil {
		return err
	}
	out, err = kubectl(ctx, cp, "get", "certificates.cert-manager.io", "-n", "istio-system", credential)
	if err != nil {
		return err
	}
	fmt.Print(indent(out))

	step("cert-manager issued the Secret; its certificate covers the Gateway's hosts")
	leaf, err := issuedLeaf(ctx, cp, "istio-system", credential)
	if err != nil {
		return err
	}
	fmt.Printf("   DNS names: %s\n   issuer: %s\n   valid until: %s\n",
		strings.Join(leaf.DNSNames, ", "), leaf.Issuer.CommonName, leaf.NotAfter.Format(time.RFC3339))

	step("A Gateway with a typo in its issuer: team-a's policy allows only gateway-ca, so kubectl is denied and told why (server-side dry run, nothing created)")
	gateway, err := os.ReadFile(filepath.Join(examples, "30-gateway.yaml"))
	if err != nil {
		return fmt.Errorf("failed to read the example Gateway: %w", err)
	}
	broken := strings.NewReplacer("name: shop\n", "name: typo\n", "shop.example.com", "typo.example.com", "gateway-ca", "gateway-cs").
		Replace(string(gateway))
	cmd := cp.Kubectl(ctx, "apply", "--dry-run=server", "-f", "-")
	cmd.Stdin = strings.NewReader(broken)
	var combined bytes.Buffer
	cmd.Stdout, cmd.Stderr = &combined, &combined
	if err := cmd.Run(); err == nil {
		return fmt.Errorf("kubectl apply --dry-run=server of a Gateway outside its namespace's policy was not denied:\n%s", combined.String())
	}
	if !strings.Contains(combined.String(), "denied the request") {
		return fmt.Errorf("kubectl apply --dry-run=server failed, but not with meshcert's denial:\n%s", combined.String())
	}
	fmt.Print(indent(combined.String()))

	if err := showGatewayAPI(ctx, cp, examples); err != nil {
		return err
	}

	if acme {
		if err := showACME(ctx, cp); err != nil {
			return err
		}
	}

	step("Done; stopping everything")
	return nil
}

// showACME issues a Gateway's certificate from Pebble: an HTTP-01 solver
// whose Ingress Istio serves, the challenge answered on port 80 where the
// demo plays the solver Pod cert-manager creates.
func showACME(ctx context.Context, cp *framework.ControlPlane) error {
	host := "web." + framework.ACMEZone
	step("ACME: a ClusterIssuer of a local Pebble, solving HTTP-01 with an Ingress of the class Istio serves")
	stopSolvers, err := cp.ServeHTTP01Solvers(ctx, host)
	if err != nil {
		return err
	}
	defer stopSolvers()
	manifests := cp.ACME.HTTP01ClusterIssuerYAML("pebble") + "---\n" + cp.ACME.GatewayYAML("team-web", "web", "pebble", host)
	var out string
	if err := retry(ctx, func() error {
		cmd := cp.Kubectl(ctx, "apply", "-f", "-")
		cmd.Stdin = strings.NewReader(manifests)
		data, err := cmd.CombinedOutput()
		out = string(data)
		if err != nil {
			return fmt.Errorf("%w: %s", err, data)
		}
		return nil
	}); err != nil {
		return err
	}
	fmt.Print(indent(out))

	step("cert-manager ordered " + host + " from Pebble; Pebble fetched the challenge on port 80 and signed")
	credential, err := kubectl(ctx, cp, "get", "gateways.networking.istio.io", "-n", "team-web", "web",
		"-o", "jsonpath={.spec.servers[0].tls.credentialName}")
	if err != nil {
		return err
	}
	secret := &corev1.Secret{}
	if err := retry(ctx, func() error {
		if err := cp.Client.Get(ctx, types.NamespacedName{Namespace: "istio-system", Name: credential}, secret); err != nil {
			return err
		}
		if len(secret.Data["tls.crt"]) == 0 {
			return errors.New("not issued yet")
		}
		return nil
	}); err != nil {
		return fmt.Errorf("failed waiting for the ACME certificate in Secret istio-system/%s: %w", credential, err)
	}
	block, _ := pem.Decode(secret.Data["tls.crt"])
	if block == nil {
		return errors.New("the ACME Secret's tls.crt holds no PEM certificate")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("failed to parse the ACME certificate: %w", err)
	}
	fmt.Printf("   DNS names: %s\n   issuer: %s\n", strings.Join(leaf.DNSNames, ", "), leaf.Issuer.CommonName)
	return nil
}

// waitReady waits for the Certificate namespace/name to be Ready.
func waitReady(ctx context.Context, cp *framework.ControlPlane, namespace, name string) (*cmapi.Certificate, error) {
	crt := &cmapi.Certificate{}
	if err := retry(ctx, func() error {
		if err := cp.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, crt); err != nil {
			return err
		}
		for _, c := range crt.Status.Conditions {
			if c.Type == cmapi.CertificateConditionReady && c.Status == cmmeta.ConditionTrue {
				return nil
			}
		}
		return errors.New("not Ready yet")
	}); err != nil {
		return nil, fmt.Errorf("failed waiting for Certificate %s/%s: %w", namespace, name, err)
	}
	return crt, nil
}

// issuedLeaf is the certificate in the Secret namespace/name's tls.crt.
func issuedLeaf(ctx context.Context, cp *framework.ControlPlane, namespace, name string) (*x509.Certificate, error) {
	secret := &corev1.Secret{}
	if err := cp.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret); err != nil {
		return nil, fmt.Errorf("failed to read Secret %s/%s: %w", namespace, name, err)
	}
	block, _ := pem.Decode(secret.Data["tls.crt"])
	if block == nil {
		return nil, fmt.Errorf("the tls.crt of Secret %s/%s holds no PEM certificate", namespace, name)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("failed to parse the certificate of Secret %s/%s: %w", namespace, name, err)
	}
	return leaf, nil
}

func step(s string) { fmt.Printf("\n== %s\n", s) }

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "   " + strings.Join(lines, "\n   ") + "\n"
}

func kubectl(ctx context.Context, cp *framework.ControlPlane, args ...string) (string, error) {
	out, err := cp.Kubectl(ctx, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up: %w", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
