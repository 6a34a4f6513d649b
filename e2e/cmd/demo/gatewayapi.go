package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshcert/meshcert/e2e/framework"
	"github.com/meshcert/meshcert/gatewayapi"
	"github.com/meshcert/meshcert/manifest"
)

// The Gateway API Gateway of examples/gatewayapi/ and the Secret its
// listener names.
const (
	apiGatewayNamespace = "team-a"
	apiGatewayName      = "api"
	apiSecretName       = "api-tls"
)

// showGatewayAPI shows the Gateway API Gateway of examples/gatewayapi/
// beside the Istio one: meshcert inject's prediction of the Certificate
// cert-manager's gateway-shim creates, the shim creating exactly that one,
// its Secret issued, and meshcert denying at admission an annotation the
// shim would only log.
func showGatewayAPI(ctx context.Context, cp *framework.ControlPlane, examples string) error {
	dir := filepath.Join(examples, "gatewayapi")
	meshcert, err := framework.MeshcertBinary(ctx)
	if err != nil {
		return err
	}
	step("Beside it, a Gateway API Gateway (gatewayClassName: istio, in " + dir + "): cert-manager's gateway-shim creates its Certificate; meshcert inject -f " + examples + " predicts it, as a comment kubectl apply ignores")
	out, err := output(ctx, meshcert, "inject", "-f", examples)
	if err != nil {
		return err
	}
	comment := shimComment(out, apiGatewayNamespace+"/"+apiGatewayName)
	if comment == "" {
		return fmt.Errorf("meshcert inject printed no shim Certificate for Gateway %s/%s:\n%s", apiGatewayNamespace, apiGatewayName, out)
	}
	fmt.Print(indent(comment))
	out, err = output(ctx, meshcert, "inject", "-f", examples, "--shim-certificates=object")
	if err != nil {
		return err
	}
	predicted, err := predictedCertificate(out)
	if err != nil {
		return err
	}

	step("kubectl apply -f " + dir + "; meshcert's webhook checks the Gateway's annotations and listeners")
	if out, err = kubectl(ctx, cp, "apply", "-f", dir); err != nil {
		return err
	}
	fmt.Print(indent(out))

	step("cert-manager's gateway-shim created the Certificate in " + apiGatewayNamespace + ", the Gateway's own namespace, where Istio reads it")
	stored, err := waitReady(ctx, cp, apiGatewayNamespace, apiSecretName)
	if err != nil {
		return err
	}
	if out, err = kubectl(ctx, cp, "get", "certificates.cert-manager.io", "-n", apiGatewayNamespace, apiSecretName); err != nil {
		return err
	}
	fmt.Print(indent(out))
	if err := samePrediction(ctx, cp, predicted, stored); err != nil {
		return err
	}
	fmt.Println("   its labels, annotations, owner and spec are the ones meshcert predicted")

	step("cert-manager issued the Secret; its certificate covers the listener's hostname")
	leaf, err := issuedLeaf(ctx, cp, apiGatewayNamespace, apiSecretName)
	if err != nil {
		return err
	}
	fmt.Printf("   DNS names: %s\n   issuer: %s\n", strings.Join(leaf.DNSNames, ", "), leaf.Issuer.CommonName)

	step("A Gateway API Gateway with duration 90d, which cert-manager cannot read: its shim would create no Certificate and only log why; meshcert denies it at apply time (server-side dry run)")
	gateway, err := os.ReadFile(filepath.Join(dir, "40-gateway.yaml"))
	if err != nil {
		return fmt.Errorf("failed to read the example Gateway API Gateway: %w", err)
	}
	broken := strings.NewReplacer(
		"name: "+apiGatewayName+"\n", "name: typo\n",
		"api.example.com", "typo.example.com",
		apiSecretName, "typo-tls",
		"    cert-manager.io/cluster-issuer: gateway-ca\n", "    cert-manager.io/cluster-issuer: gateway-ca\n    cert-manager.io/duration: 90d\n",
	).Replace(string(gateway))
	cmd := cp.Kubectl(ctx, "apply", "--dry-run=server", "-f", "-")
	cmd.Stdin = strings.NewReader(broken)
	var combined bytes.Buffer
	cmd.Stdout, cmd.Stderr = &combined, &combined
	if err := cmd.Run(); err == nil {
		return fmt.Errorf("kubectl apply --dry-run=server of a Gateway API Gateway with a duration of 90d was not denied:\n%s", combined.String())
	}
	if !strings.Contains(combined.String(), "denied the request") {
		return fmt.Errorf("kubectl apply --dry-run=server failed, but not with meshcert's denial:\n%s", combined.String())
	}
	fmt.Print(indent(combined.String()))
	return nil
}

// shimComment is the commented Certificate meshcert inject prints for the
// Gateway namespace/name: its heading and every comment line after it.
func shimComment(injected, gateway string) string {
	heading := "# cert-manager's gateway-shim creates this Certificate for Gateway " + gateway + ";"
	var b strings.Builder
	for line := range strings.Lines(injected) {
		switch {
		case strings.HasPrefix(line, heading):
			b.WriteString(line)
		case b.Len() > 0 && strings.HasPrefix(line, "# "):
			b.WriteString(line)
		case b.Len() > 0:
			return b.String()
		}
	}
	return b.String()
}

// predictedCertificate is the Certificate of apiSecretName in the output
// of meshcert inject --shim-certificates=object.
func predictedCertificate(injected string) (*cmapi.Certificate, error) {
	objs, err := manifest.Decode("meshcert inject", []byte(injected))
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		u := o.Object
		if u.GetKind() != cmapi.CertificateKind || u.GetNamespace() != apiGatewayNamespace || u.GetName() != apiSecretName {
			continue
		}
		crt := &cmapi.Certificate{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, crt); err != nil {
			return nil, fmt.Errorf("failed to read the predicted Certificate: %w", err)
		}
		return crt, nil
	}
	return nil, fmt.Errorf("meshcert inject --shim-certificates=object printed no Certificate %s/%s:\n%s", apiGatewayNamespace, apiSecretName, injected)
}

// samePrediction compares what the shim wrote with what meshcert
// predicted, whose owner reference gets the Gateway's UID once the API
// server has given it one.
func samePrediction(ctx context.Context, cp *framework.ControlPlane, predicted, stored *cmapi.Certificate) error {
	gateway := &unstructured.Unstructured{}
	gateway.SetAPIVersion(gatewayapi.Group + "/v1")
	gateway.SetKind(gatewayapi.KindGateway)
	if err := cp.Client.Get(ctx, types.NamespacedName{Namespace: apiGatewayNamespace, Name: apiGatewayName}, gateway); err != nil {
		return fmt.Errorf("failed to read Gateway %s/%s: %w", apiGatewayNamespace, apiGatewayName, err)
	}
	predicted = predicted.DeepCopy()
	for i := range predicted.OwnerReferences {
		predicted.OwnerReferences[i].UID = gateway.GetUID()
	}
	type compared struct {
		Labels, Annotations map[string]string
		Owners              []metav1.OwnerReference
		Spec                cmapi.CertificateSpec
	}
	want := compared{predicted.Labels, predicted.Annotations, predicted.OwnerReferences, predicted.Spec}
	got := compared{stored.Labels, stored.Annotations, stored.OwnerReferences, stored.Spec}
	if !equality.Semantic.DeepEqual(want, got) {
		return fmt.Errorf("the shim's Certificate %s/%s is not the one meshcert predicted:\npredicted %s\nstored %s", stored.Namespace, stored.Name, asJSON(want), asJSON(got))
	}
	return nil
}

func asJSON(v any) string {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(out)
}

// output runs a command and returns its standard output.
func output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}
