package bench

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/manifest"
	"github.com/meshcert/meshcert/offline"
)

func TestWriteGateManifests(t *testing.T) {
	for name, tc := range map[string]struct {
		gateways   int
		namespaces int
		http       int
	}{
		"25 Gateways fill part of one namespace's file":               {gateways: 25, namespaces: 1, http: 7},
		"250 Gateways fill two namespaces' files and half of a third": {gateways: 250, namespaces: 3, http: 63},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, WriteGateManifests(dir, tc.gateways))
			require.Equal(t, tc.namespaces, GateNamespaces(tc.gateways))
			require.Equal(t, tc.http, GateHTTPGateways(tc.gateways))

			objects, files := readGateManifests(t, dir)
			require.Len(t, files, 1+tc.namespaces, "one file for the ClusterIssuer, one per namespace")
			require.Len(t, objects, GateObjects(tc.gateways))

			byKind := map[string][]*unstructured.Unstructured{}
			for _, o := range objects {
				byKind[o.GetKind()] = append(byKind[o.GetKind()], o)
			}
			require.Len(t, byKind["ClusterIssuer"], 1)
			require.Len(t, byKind["Namespace"], tc.namespaces)
			require.Len(t, byKind["Gateway"], tc.gateways)
			require.Len(t, byKind, 3, "no other kinds")

			issuer := byKind["ClusterIssuer"][0]
			require.Equal(t, "cert-manager.io/v1", issuer.GetAPIVersion())
			require.Equal(t, GateIssuer, issuer.GetName())
			secret, _, _ := unstructured.NestedString(issuer.Object, "spec", "ca", "secretName")
			require.NotEmpty(t, secret, "a CA ClusterIssuer names its Secret")

			policy := map[string]map[string]string{}
			for _, ns := range byKind["Namespace"] {
				policy[ns.GetName()] = ns.GetAnnotations()
				require.Equal(t, "ClusterIssuer/"+GateIssuer, ns.GetAnnotations()["meshcert.io/allowed-issuers"], ns.GetName())
			}

			names := map[string]bool{}
			http := 0
			for _, gw := range byKind["Gateway"] {
				id := gw.GetNamespace() + "/" + gw.GetName()
				require.Equal(t, "networking.istio.io/v1", gw.GetAPIVersion(), id)
				require.False(t, names[id], "%s written twice", id)
				names[id] = true
				require.Contains(t, policy, gw.GetNamespace(), "%s: its Namespace is written", id)
				require.Equal(t, GateIssuer, gw.GetAnnotations()["cert-manager.io/cluster-issuer"], id)
				selector, _, _ := unstructured.NestedStringMap(gw.Object, "spec", "selector")
				require.Equal(t, map[string]string{"istio": "ingressgateway"}, selector, id)

				servers, _, _ := unstructured.NestedSlice(gw.Object, "spec", "servers")
				require.NotEmpty(t, servers, id)
				https := servers[0].(map[string]any)
				require.EqualValues(t, 443, gateField(t, https, "port", "number"), id)
				require.Equal(t, "HTTPS", gateField(t, https, "port", "protocol"), id)
				require.Equal(t, "SIMPLE", gateField(t, https, "tls", "mode"), id)
				require.NotContains(t, https["tls"], "credentialName", "%s: meshcert fills it in", id)
				hosts := https["hosts"].([]any)
				require.Len(t, hosts, 1, id)
				allowed := policy[gw.GetNamespace()]["meshcert.io/allowed-hosts"]
				require.True(t, strings.HasPrefix(allowed, "*."), "%s: %q", gw.GetNamespace(), allowed)
				require.True(t, strings.HasSuffix(hosts[0].(string), allowed[1:]), "%s: host %v outside %q", id, hosts[0], allowed)

				switch len(servers) {
				case 1:
				case 2:
					http++
					plain := servers[1].(map[string]any)
					require.EqualValues(t, 80, gateField(t, plain, "port", "number"), id)
					require.Equal(t, "HTTP", gateField(t, plain, "port", "protocol"), id)
					require.Equal(t, hosts, plain["hosts"], id)
				default:
					t.Fatalf("%s has %d servers", id, len(servers))
				}
			}
			require.Equal(t, tc.http, http, "Gateways with a port-80 server")
		})
	}
}

// readGateManifests decodes every YAML document under dir.
func readGateManifests(t *testing.T, dir string) ([]*unstructured.Unstructured, []string) {
	t.Helper()
	var objects []*unstructured.Unstructured
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files = append(files, path)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		decoder := k8syaml.NewYAMLOrJSONDecoder(f, 4096)
		for {
			var obj map[string]any
			if err := decoder.Decode(&obj); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return err
			}
			if obj != nil {
				objects = append(objects, &unstructured.Unstructured{Object: obj})
			}
		}
	})
	require.NoError(t, err)
	return objects, files
}

func gateField(t *testing.T, obj map[string]any, fields ...string) any {
	t.Helper()
	v, found, err := unstructured.NestedFieldNoCopy(obj, fields...)
	require.NoError(t, err)
	require.True(t, found, "%v not set", fields)
	return v
}

func TestRunGate(t *testing.T) {
	for name, tc := range map[string]struct {
		ctx      func() context.Context
		cmd      *exec.Cmd
		exitCode int
		err      bool
	}{
		"a gate that finds errors reports its exit code, not an error": {
			ctx: context.Background, cmd: exec.Command("/bin/sh", "-c", "exit 79"), exitCode: 79,
		},
		"a gate that cannot start is an error": {
			ctx: context.Background, cmd: exec.Command(filepath.Join(t.TempDir(), "missing")), exitCode: -1, err: true,
		},
		"a gate still running when the context ends is killed and an error": {
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			cmd: exec.Command("/bin/sh", "-c", "sleep 60"), exitCode: -1, err: true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			run, err := RunGate(tc.ctx(), "gate", tc.cmd)
			if tc.err {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
				require.Positive(t, run.MaxRSSBytes)
			}
			require.Equal(t, "gate", run.Tool)
			require.Equal(t, tc.exitCode, run.ExitCode)
		})
	}
}

func TestWriteGateCertificates(t *testing.T) {
	for name, tc := range map[string]struct {
		gateways   int
		namespaces int
	}{
		"25 Gateways get 25 Certificates in one namespace's file":      {gateways: 25, namespaces: 1},
		"250 Gateways get 250 Certificates in three namespaces' files": {gateways: 250, namespaces: 3},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, WriteGateManifests(dir, tc.gateways))
			require.NoError(t, WriteGateCertificates(t.Context(), dir, tc.gateways))

			objects, files := readGateManifests(t, dir)
			require.Len(t, files, 1+2*tc.namespaces, "the ClusterIssuer's file, and per namespace its Gateways' and their Certificates'")
			require.Len(t, objects, GateObjectsWithCertificates(tc.gateways))
			gateways := map[string]bool{}
			var certificates []*unstructured.Unstructured
			for _, o := range objects {
				switch o.GetKind() {
				case "Gateway":
					gateways[o.GetNamespace()+"/"+o.GetName()] = true
				case "Certificate":
					certificates = append(certificates, o)
				}
			}
			require.Len(t, certificates, tc.gateways)
			for _, crt := range certificates {
				gw := crt.GetAnnotations()["meshcert.io/gateway"]
				require.True(t, gateways[gw], "%s names Gateway %q, which is not written", crt.GetName(), gw)
				delete(gateways, gw)
			}
			require.Empty(t, gateways, "Gateways without a Certificate")

			// What a repository committing inject's Certificates holds:
			// check finds nothing in it, and inject plans no Certificate
			// beyond those, each replaced in place by itself.
			objs, err := manifest.Read([]string{dir}, nil)
			require.NoError(t, err)
			res, err := offline.PlanObjects(t.Context(), manifest.Unstructured(objs), certs.DefaultOptions(), "default")
			require.NoError(t, err)
			require.Empty(t, res.Findings)
			require.Empty(t, res.Certificates, "every Certificate inject plans is in the input already")
			for i, o := range objs {
				if o.Object.GetKind() == "Certificate" {
					require.Equal(t, o.Object.Object, res.Objects[i].Object, "%s is printed as written", o.Object.GetName())
				}
			}
		})
	}
}

func TestGateCommand(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		tool, istioctl string
		args           []string
		err            bool
	}{
		"check reads the directory":              {tool: GateCheck, args: []string{"/bin/true", "check", "-f", dir}},
		"inject reads the directory":             {tool: GateInject, args: []string{"/bin/true", "inject", "-f", dir}},
		"istioctl analyzes the directory":        {tool: GateIstioctl, istioctl: "/bin/false", args: []string{"/bin/false", "analyze", "--use-kube=false", "--all-namespaces", "--color=false", dir}},
		"meshcert's gates need no istioctl":      {tool: GateCheck, args: []string{"/bin/true", "check", "-f", dir}},
		"istioctl's gate needs istioctl":         {tool: GateIstioctl, err: true},
		"a gate that does not exist is an error": {tool: "kubectl apply", err: true},
	} {
		t.Run(name, func(t *testing.T) {
			cmd, err := GateCommand(tc.tool, "/bin/true", tc.istioctl, dir)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.args, cmd.Args)
		})
	}
}
