package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/manifest"
	"github.com/meshcert/meshcert/offline"
)

// The CI gate: `meshcert check` over a GitOps repository's manifests, side
// by side with Istio's own offline gate, `istioctl analyze --use-kube=false`,
// over the same files.

const (
	// GateIssuer is the one ClusterIssuer every generated Gateway names.
	GateIssuer = "gateway-ca"
	// GateGatewaysPerNamespace is how many Gateways each generated namespace
	// (and so each file) holds; the last one holds the rest.
	GateGatewaysPerNamespace = 100
	// gateHTTPEvery: every gateHTTPEvery-th Gateway also has a port-80
	// server redirecting to HTTPS.
	gateHTTPEvery = 4
)

// GateNamespaces is the number of namespaces, and so of namespace files,
// WriteGateManifests writes for n Gateways.
func GateNamespaces(n int) int {
	return (n + GateGatewaysPerNamespace - 1) / GateGatewaysPerNamespace
}

// GateObjects is the number of objects WriteGateManifests writes for n
// Gateways: the ClusterIssuer, the Namespaces and the Gateways.
func GateObjects(n int) int {
	return 1 + GateNamespaces(n) + n
}

// GateHTTPGateways is how many of WriteGateManifests' n Gateways also have
// a port-80 HTTP server.
func GateHTTPGateways(n int) int {
	return (n + gateHTTPEvery - 1) / gateHTTPEvery
}

// GateNamespace is the name of the i-th generated namespace.
func GateNamespace(i int) string {
	return fmt.Sprintf("team-%04d", i)
}

// WriteGateManifests writes n annotated Gateways into dir as a GitOps
// repository holds them: cluster/clusterissuer.yaml with the CA
// ClusterIssuer they all name, and namespaces/<namespace>.yaml for each
// namespace, holding the Namespace with meshcert's policy annotations
// followed by its GateGatewaysPerNamespace Gateways. Each Gateway has one
// SIMPLE HTTPS server on 443 for its own host under the namespace's domain
// and no credentialName (meshcert fills it in); every fourth also has an
// HTTP server on 80 redirecting to HTTPS. meshcert check finds nothing in
// them; istioctl analyze reports two IST0106 errors on every Gateway (SIMPLE
// TLS requires a server certificate and a private key), since nothing but
// meshcert's webhook gives its servers a credentialName. What `meshcert
// inject` prints for them, credentialNames filled in, istioctl accepts.
func WriteGateManifests(dir string, n int) error {
	if n < 0 {
		return fmt.Errorf("cannot write %d Gateways", n)
	}
	for _, sub := range []string{"cluster", "namespaces"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("failed to create %s: %w", sub, err)
		}
	}
	if err := gateWriteFile(filepath.Join(dir, "cluster", "clusterissuer.yaml"), func(w *bufio.Writer) {
		fmt.Fprintf(w, gateClusterIssuerYAML, GateIssuer, GateIssuer)
	}); err != nil {
		return err
	}
	for ns := range GateNamespaces(n) {
		first := ns * GateGatewaysPerNamespace
		last := min(first+GateGatewaysPerNamespace, n)
		name := GateNamespace(ns)
		err := gateWriteFile(filepath.Join(dir, "namespaces", name+".yaml"), func(w *bufio.Writer) {
			fmt.Fprintf(w, gateNamespaceYAML, name, name, GateIssuer)
			for i := first; i < last; i++ {
				gw := fmt.Sprintf("gw-%05d", i)
				host := gw + "." + name + ".example.com"
				fmt.Fprintf(w, gateGatewayYAML, gw, name, GateIssuer, host)
				if i%gateHTTPEvery == 0 {
					fmt.Fprintf(w, gateHTTPServerYAML, host)
				}
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// GateObjectsWithCertificates is GateObjects plus the Certificates
// WriteGateCertificates writes, one per Gateway.
func GateObjectsWithCertificates(n int) int {
	return GateObjects(n) + n
}

// WriteGateCertificates adds to what WriteGateManifests wrote in dir the
// Certificates of its Gateways, as a repository that commits them holds
// them: certificates/<namespace>.yaml for each namespace's Gateways, each
// Certificate exactly as `meshcert inject` prints it. Planned the way
// inject plans (offline.PlanObjects over the ClusterIssuer and one
// namespace's file, which holds everything each of its Gateways depends
// on), they live where the Gateways' credentials do, in istio-system, so
// the Gateways keep their files. meshcert check finds nothing in the
// whole, and inject replaces each Certificate in place by itself.
func WriteGateCertificates(ctx context.Context, dir string, n int) error {
	if err := os.MkdirAll(filepath.Join(dir, "certificates"), 0o755); err != nil {
		return fmt.Errorf("failed to create certificates: %w", err)
	}
	issuer := filepath.Join(dir, "cluster", "clusterissuer.yaml")
	for ns := range GateNamespaces(n) {
		name := GateNamespace(ns)
		objs, err := manifest.Read([]string{issuer, filepath.Join(dir, "namespaces", name+".yaml")}, nil)
		if err != nil {
			return fmt.Errorf("failed to read the manifests of %s: %w", name, err)
		}
		res, err := offline.PlanObjects(ctx, manifest.Unstructured(objs), certs.DefaultOptions(), "default")
		if err != nil {
			return fmt.Errorf("failed to plan the Gateways of %s: %w", name, err)
		}
		if want := min(GateGatewaysPerNamespace, n-ns*GateGatewaysPerNamespace); len(res.Certificates) != want || len(res.Findings) > 0 {
			return fmt.Errorf("meshcert plans %d Certificates for the %d Gateways of %s, with findings %v", len(res.Certificates), want, name, res.Findings)
		}
		crts := make([]*unstructured.Unstructured, len(res.Certificates))
		for i, crt := range res.Certificates {
			if crts[i], err = certs.CertificateObject(crt); err != nil {
				return err
			}
		}
		var werr error
		err = gateWriteFile(filepath.Join(dir, "certificates", name+".yaml"), func(w *bufio.Writer) {
			werr = manifest.Write(w, crts)
		})
		if err = errors.Join(err, werr); err != nil {
			return err
		}
	}
	return nil
}

// gateClusterIssuerYAML takes the issuer's name and its CA Secret's name.
const gateClusterIssuerYAML = `# The CA that signs every gateway certificate; its Secret lives in
# cert-manager's cluster resource namespace.
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: %s
spec:
  ca:
    secretName: %s
`

// gateNamespaceYAML takes the namespace's name, twice, and the issuer.
const gateNamespaceYAML = `apiVersion: v1
kind: Namespace
metadata:
  name: %s
  annotations:
    meshcert.io/allowed-hosts: "*.%s.example.com"
    meshcert.io/allowed-issuers: ClusterIssuer/%s
`

// gateGatewayYAML takes the Gateway's name, namespace, issuer and host.
const gateGatewayYAML = `---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: %s
  namespace: %s
  annotations:
    cert-manager.io/cluster-issuer: %s
spec:
  selector:
    istio: ingressgateway
  servers:
  - name: https
    port:
      number: 443
      name: https
      protocol: HTTPS
    hosts:
    - %s
    tls:
      mode: SIMPLE
`

// gateHTTPServerYAML continues gateGatewayYAML's servers; it takes the host.
const gateHTTPServerYAML = `  - name: http
    port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - %s
    tls:
      httpsRedirect: true
`

func gateWriteFile(path string, write func(*bufio.Writer)) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("failed to create %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("failed to close %s: %w", path, cerr)
		}
	}()
	w := bufio.NewWriter(f)
	write(w)
	if err := w.Flush(); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}

// GateRun is one run of a CI gate over a directory of manifests.
type GateRun struct {
	// Tool names the gate ("meshcert check", "istioctl analyze").
	Tool string
	// Wall is the time from starting the process to its exit.
	Wall time.Duration
	// MaxRSSBytes is the process's peak resident set size.
	MaxRSSBytes int64
	// ExitCode is the process's exit status: meshcert check exits 0 (no
	// error findings), 1 (some) or 2 (unreadable input); istioctl analyze 0,
	// 79 (a message at --failure-threshold or worse, Error by default) or
	// 65 (unparseable input).
	ExitCode int
	// Objects is the number of objects in the input. RunGate cannot know
	// it and leaves it to the caller (GateObjects for WriteGateManifests).
	Objects int
}

// RunGate runs cmd, which must not have been started, and measures its
// wall time and peak RSS. A non-zero exit is not an error: it is the gate's
// verdict, in ExitCode. The error reports a command that could not be
// started or waited for, or was killed because ctx ended. cmd's Stdout and
// Stderr are left as the caller set them (nil discards the output).
func RunGate(ctx context.Context, name string, cmd *exec.Cmd) (GateRun, error) {
	run := GateRun{Tool: name, ExitCode: -1}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return run, fmt.Errorf("failed to start %s: %w", name, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	waitErr := cmd.Wait()
	run.Wall = time.Since(start)
	killed := !stop()
	if cmd.ProcessState == nil {
		return run, fmt.Errorf("failed to wait for %s: %w", name, waitErr)
	}
	run.ExitCode = cmd.ProcessState.ExitCode()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		run.MaxRSSBytes = gateMaxRSSBytes(ru)
	}
	if killed {
		return run, fmt.Errorf("%s stopped: %w", name, context.Cause(ctx))
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return run, fmt.Errorf("failed to wait for %s: %w", name, waitErr)
	}
	if run.ExitCode < 0 {
		return run, fmt.Errorf("%s did not exit: %s", name, cmd.ProcessState)
	}
	return run, nil
}

// gateMaxRSSBytes converts getrusage's ru_maxrss, which Linux and the BSDs
// give in kilobytes and macOS in bytes.
func gateMaxRSSBytes(ru *syscall.Rusage) int64 {
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return ru.Maxrss
	}
	return ru.Maxrss * 1024
}

// The gates GateCommand runs.
const (
	GateCheck    = "meshcert check"
	GateInject   = "meshcert inject"
	GateIstioctl = "istioctl analyze"
)

// GateCommand returns one CI gate over the manifests under dir, not
// started, its output not captured:
//
//	meshcert check -f DIR
//	meshcert inject -f DIR
//	istioctl analyze --use-kube=false --all-namespaces --color=false DIR
//
// All read DIR recursively for .yaml, .yml and .json. istioctl takes files
// and directories as arguments (it has no -f, and its --recursive flag is
// removed: set, it prints a notice and analyzes nothing); without
// --all-namespaces it would report only on the namespace "default".
// istioctl's exit code reflects its findings only with its default log
// output (-o json or yaml always exit 0), so neither check nor istioctl is
// asked for JSON. With --use-kube=false istioctl reads no kubeconfig; it
// skips the kinds it has no schema for (cert-manager's) and, in files,
// Namespaces, Pods, Services and Secrets, and stands in a default ingress
// gateway Pod and Service in istio-system for selectors to match. istioctl
// is only needed for its gate.
func GateCommand(tool, meshcert, istioctl, dir string) (*exec.Cmd, error) {
	binary := struct{ what, path string }{"meshcert binary", meshcert}
	if tool == GateIstioctl {
		binary = struct{ what, path string }{"istioctl binary", istioctl}
	}
	for _, p := range []struct{ what, path string }{binary, {"manifest directory", dir}} {
		if p.path == "" {
			return nil, fmt.Errorf("no %s given", p.what)
		}
		if _, err := os.Stat(p.path); err != nil {
			return nil, fmt.Errorf("%s: %w", p.what, err)
		}
	}
	switch tool {
	case GateCheck:
		return exec.Command(meshcert, "check", "-f", dir), nil
	case GateInject:
		return exec.Command(meshcert, "inject", "-f", dir), nil
	case GateIstioctl:
		return exec.Command(istioctl, "analyze", "--use-kube=false", "--all-namespaces", "--color=false", dir), nil
	}
	return nil, fmt.Errorf("unknown gate %q", tool)
}
