package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshcert/meshcert/webhook"
)

// GatewayJSON is an annotated Istio Gateway in namespace with servers
// SIMPLE HTTPS servers, each for its own host under the namespace's domain
// (which BenchNamespace's policy allows), none naming a credential: what a
// user applies and meshcert fills in.
func GatewayJSON(namespace, name, issuer string, servers int) []byte {
	list := make([]map[string]any, servers)
	for i := range list {
		list[i] = map[string]any{
			"port":  map[string]any{"number": 443, "name": "https-" + strconv.Itoa(i), "protocol": "HTTPS"},
			"hosts": []string{fmt.Sprintf("%s-%d.%s.example.com", name, i, namespace)},
			"tls":   map[string]any{"mode": "SIMPLE"},
		}
	}
	gw := map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "Gateway",
		"metadata": map[string]any{
			"name": name, "namespace": namespace,
			"annotations": map[string]string{"cert-manager.io/cluster-issuer": issuer},
		},
		"spec": map[string]any{"selector": map[string]string{"istio": "ingressgateway"}, "servers": list},
	}
	out, err := json.Marshal(gw)
	if err != nil {
		panic(fmt.Sprintf("a Gateway of plain maps always encodes: %v", err))
	}
	return out
}

// NamespacePolicy is the policy annotations meshcert's default
// (--namespace-policy=required) needs before a namespace's Gateways may
// claim hosts under its domain with issuer.
func NamespacePolicy(namespace, issuer string) map[string]string {
	return map[string]string{
		"meshcert.io/allowed-hosts":   "*." + namespace + ".example.com",
		"meshcert.io/allowed-issuers": "ClusterIssuer/" + issuer,
	}
}

// review is the AdmissionReview the API server sends for creating obj.
func review(uid string, obj []byte, namespace, name string) []byte {
	r := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:             types.UID(uid),
			Kind:            metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"},
			Resource:        metav1.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"},
			RequestKind:     &metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"},
			RequestResource: &metav1.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"},
			Name:            name,
			Namespace:       namespace,
			Operation:       admissionv1.Create,
			UserInfo:        authenticationUser(),
			Object:          runtime.RawExtension{Raw: obj},
			DryRun:          new(false),
			Options:         runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1","fieldManager":"kubectl-client-side-apply"}`)},
		},
	}
	out, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("an AdmissionReview always encodes: %v", err))
	}
	return out
}

// GatewayRequests are count pairs of requests for distinct Gateways, each
// with the given number of servers, in namespace: the mutating review of what the user
// wrote and the validating review of what meshcert's mutating webhook made
// of it, as the API server sends them. The mutated objects come from the
// server at baseURL (meshcert serve), so the validating webhook sees
// exactly what it would see in a cluster.
func GatewayRequests(ctx context.Context, client *http.Client, baseURL, namespace, issuer string, servers, count int) ([]Request, error) {
	var out []Request
	for i := range count {
		name := fmt.Sprintf("gw-s%d-%d", servers, i)
		obj := GatewayJSON(namespace, name, issuer, servers)
		mutate := Request{Path: webhook.PathMutateGateway, UID: fmt.Sprintf("m-%d-%d", servers, i)}
		mutate.Body = review(mutate.UID, obj, namespace, name)
		mutated, err := mutatedObject(ctx, client, baseURL, mutate, obj)
		if err != nil {
			return nil, err
		}
		validate := Request{Path: webhook.PathValidateGateway, UID: fmt.Sprintf("v-%d-%d", servers, i)}
		validate.Body = review(validate.UID, mutated, namespace, name)
		out = append(out, mutate, validate)
	}
	return out, nil
}

// mutatedObject asks the mutating webhook at baseURL and applies its patch.
func mutatedObject(ctx context.Context, client *http.Client, baseURL string, req Request, obj []byte) ([]byte, error) {
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+req.Path, strings.NewReader(string(req.Body)))
	if err != nil {
		return nil, fmt.Errorf("failed to build the request: %w", err)
	}
	httpReq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(httpReq)
	if err != nil {
		return nil, fmt.Errorf("failed to ask %s for the mutated Gateway: %w", req.Path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("failed to read the answer of %s: %w", req.Path, err)
	}
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("failed to decode the answer of %s (%s): %w", req.Path, resp.Status, err)
	}
	if r.Response == nil || !r.Response.Allowed || len(r.Response.Patch) == 0 {
		return nil, fmt.Errorf("%s gave no patch for a Gateway it should fill in: %s", req.Path, body)
	}
	patch, err := jsonpatch.DecodePatch(r.Response.Patch)
	if err != nil {
		return nil, fmt.Errorf("failed to decode the patch of %s: %w", req.Path, err)
	}
	mutated, err := patch.Apply(obj)
	if err != nil {
		return nil, fmt.Errorf("failed to apply the patch of %s: %w", req.Path, err)
	}
	return mutated, nil
}

// authenticationUser is who the API server says sent the request.
func authenticationUser() authenticationv1.UserInfo {
	return authenticationv1.UserInfo{Username: "kubernetes-admin", Groups: []string{"system:masters", "system:authenticated"}}
}
