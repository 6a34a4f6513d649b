package certs_test

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshcert/meshcert/certs"
)

// gatewayWithServers builds an annotated Gateway with n SIMPLE servers, each
// with two hosts and no credential, so every server is injected and certified.
func gatewayWithServers(n int) *unstructured.Unstructured {
	servers := make([]any, n)
	for i := range servers {
		servers[i] = map[string]any{
			"port":  map[string]any{"number": int64(443), "name": fmt.Sprintf("https-%d", i), "protocol": "HTTPS"},
			"hosts": []any{fmt.Sprintf("team-a/app%d.example.com", i), fmt.Sprintf("www.app%d.example.com", i)},
			"tls":   map[string]any{"mode": "SIMPLE"},
		}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "Gateway",
		"metadata": map[string]any{
			"name": "web", "namespace": "team-a",
			"annotations": map[string]any{"cert-manager.io/cluster-issuer": "ca", "cert-manager.io/duration": "2160h"},
		},
		"spec": map[string]any{
			"selector": map[string]any{"istio": "ingressgateway"},
			"servers":  servers,
		},
	}}
}

func BenchmarkPlanGateway(b *testing.B) {
	benchmarkPlan(b, indexOf(b, cluster), cliOptions())
}

// BenchmarkPlanGatewayWithPolicy is what the server plans: the Gateway's
// Namespace is known and carries a policy every host and the issuer are
// checked against.
func BenchmarkPlanGatewayWithPolicy(b *testing.B) {
	benchmarkPlan(b, indexOf(b, cluster+policyNamespace(withinPolicy)), certs.DefaultOptions())
}

// benchmarkPlan plans Gateways of 1, 10 and 100 servers, each of which must
// get its Certificate.
func benchmarkPlan(b *testing.B, lookup certs.Lookup, opts certs.Options) {
	for _, n := range []int{1, 10, 100} {
		obj := gatewayWithServers(n)
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				plan := certs.PlanGateway(b.Context(), certs.ParseGateway(obj), lookup, opts)
				if len(plan.Certificates) != n || plan.OutsidePolicy {
					b.Fatalf("planned %d certificates, want %d (outside policy: %v)", len(plan.Certificates), n, plan.OutsidePolicy)
				}
			}
		})
	}
}

// BenchmarkPlanAndMutateGateway is `meshcert inject`'s work: planning plus
// building the mutated Gateway (the mutating webhook writes the patch
// without it, BenchmarkPlanAndPatchGateway).
func BenchmarkPlanAndMutateGateway(b *testing.B) {
	index := indexOf(b, cluster)
	opts := cliOptions()
	for _, n := range []int{1, 10, 100} {
		obj := gatewayWithServers(n)
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				plan := certs.PlanGateway(b.Context(), certs.ParseGateway(obj), index, opts)
				if _, err := plan.Mutated(); err != nil || len(plan.Injections) != n {
					b.Fatalf("injected %d, err %v", len(plan.Injections), err)
				}
			}
		})
	}
}

// BenchmarkPlanAndPatchGateway is the mutating webhook's work: planning
// plus the JSON patch of the injections.
func BenchmarkPlanAndPatchGateway(b *testing.B) {
	index := indexOf(b, cluster)
	opts := cliOptions()
	for _, n := range []int{1, 10, 100} {
		obj := gatewayWithServers(n)
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				plan := certs.PlanGateway(b.Context(), certs.ParseGateway(obj), index, opts)
				if ops, err := plan.Patch(); err != nil || len(ops) != n {
					b.Fatalf("patched %d, err %v", len(ops), err)
				}
			}
		})
	}
}

// BenchmarkPlanGatewaySharedWorkload plans the 10-server Gateway while 100
// other Gateways (other hosts) use the same gateway workload, so every host
// and credential is looked up for conflicts.
func BenchmarkPlanGatewaySharedWorkload(b *testing.B) {
	index := indexOf(b, cluster)
	for i := range 100 {
		other := gatewayWithServers(2)
		other.SetName(fmt.Sprintf("other-%d", i))
		for _, s := range other.Object["spec"].(map[string]any)["servers"].([]any) {
			srv := s.(map[string]any)
			srv["hosts"] = []any{fmt.Sprintf("other%d.example.com", i)}
			srv["tls"] = map[string]any{"mode": "SIMPLE", "credentialName": fmt.Sprintf("other-%d-%s", i, srv["port"].(map[string]any)["name"])}
		}
		index.AddGateway(certs.ParseGateway(other))
	}
	opts := cliOptions()
	obj := gatewayWithServers(10)
	b.ReportAllocs()
	for b.Loop() {
		plan := certs.PlanGateway(b.Context(), certs.ParseGateway(obj), index, opts)
		if len(plan.Certificates) != 10 || plan.Findings.HasErrors() {
			b.Fatalf("planned %d certificates, findings %v", len(plan.Certificates), plan.Findings)
		}
	}
}

// BenchmarkDNS1123Subdomain measures the planner's DNS-1123 subdomain check
// (hosts, credential and Secret names, several per server) against
// apimachinery's, on names such as the planner checks: valid ones.
func BenchmarkDNS1123Subdomain(b *testing.B) {
	names := []string{"web.example.com", "www.app17.example.com", "web-tls", certs.CredentialName("team-a", "web", "https-17")}
	checks := []struct {
		name  string
		valid func(string) bool
	}{
		{"hand-written", certs.IsDNS1123Subdomain},
		{"apimachinery", func(s string) bool { return len(validation.IsDNS1123Subdomain(s)) == 0 }},
	}
	for _, check := range checks {
		b.Run(check.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, name := range names {
					if !check.valid(name) {
						b.Fatalf("%q is a DNS-1123 subdomain", name)
					}
				}
			}
		})
	}
}
