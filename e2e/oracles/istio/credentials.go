package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"strings"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoytls "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	networking "istio.io/api/networking/v1alpha3"
	credkube "istio.io/istio/pilot/pkg/credentials/kube"
	"istio.io/istio/pilot/pkg/model"
	istionetworking "istio.io/istio/pilot/pkg/networking"
	netcore "istio.io/istio/pilot/pkg/networking/core"
	"istio.io/istio/pilot/pkg/xds"
	v3 "istio.io/istio/pilot/pkg/xds/v3"
	"istio.io/istio/pkg/cluster"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/multicluster"
	"istio.io/istio/pkg/log"
	"istio.io/istio/pkg/spiffe"
	"istio.io/istio/pkg/util/sets"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	sa "k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// credentialsRequest is one question to istiod's serving code: which
// objects does it serve a gateway proxy for these tls settings.
type credentialsRequest struct {
	ID                           string          `json:"id"`
	GatewayNamespace             string          `json:"gatewayNamespace"`
	ProxyNamespace               string          `json:"proxyNamespace"`
	ProxyServiceAccount          string          `json:"proxyServiceAccount"`
	ServiceAccountCanListSecrets bool            `json:"serviceAccountCanListSecrets"`
	TLS                          json.RawMessage `json:"tls"`
	// Secrets and ConfigMaps are "namespace/name" of the objects that exist.
	Secrets    []string `json:"secrets"`
	ConfigMaps []string `json:"configMaps"`
}

// servedResource is one SDS resource of the server's DownstreamTlsContext
// and what istiod answers for it.
type servedResource struct {
	// Role is "certificate" (TlsCertificateSdsSecretConfigs, in order) or
	// "ca" (the CombinedValidationContext's SDS config).
	Role string `json:"role"`
	// ResourceName is the SDS resource the gateway asks for; "" where Istio
	// put no SDS config (an empty entry of credentialNames).
	ResourceName string `json:"resourceName"`
	// Served is true when istiod answered the resource. Resources not asked
	// of istiod (builtin default/ROOTCA, an external SDS server) are false.
	Served bool `json:"served"`
	// ServedAs is the Secret type istiod answered with: "tls_certificate"
	// or "validation_context".
	ServedAs string `json:"servedAs"`
	// ReadFrom is the CommonName of the first certificate istiod served,
	// which the oracle sets to "Secret ns/name" or "ConfigMap ns/name".
	ReadFrom string `json:"readFrom"`
}

type credentialsVerdict struct {
	ID        string           `json:"id"`
	Error     string           `json:"error"`
	Resources []servedResource `json:"resources"`
}

// oracleCluster is both the config cluster and the proxy's cluster, as in a
// single-cluster mesh (istiod's default CLUSTER_ID).
const oracleCluster cluster.ID = "Kubernetes"

// gatewayLabels select the gateway proxy; the Gateway carries them as its
// selector so mergeGateways applies it to the proxy.
var gatewayLabels = map[string]string{"istio": "ingressgateway"}

// credentialsStream answers one credentialsRequest per input line with one
// verdict line, flushed at once, like validateStream. Every answer comes
// from Istio's code: the TLS context from core.BuildListenerTLSContext, the
// proxy's verified references from PushContext's gateway merge, the answer
// from xds.SecretGen over the kube credentials controller.
func credentialsStream(in io.Reader, w io.Writer) error {
	// SecretGen and mergeGateways log a warning per refused reference,
	// which here are verdicts, not news.
	for _, scope := range log.Scopes() {
		scope.SetOutputLevel(log.ErrorLevel)
	}
	env, err := newCredentialsEnv()
	if err != nil {
		return err
	}
	defer env.close()

	return streamLines(in, w, true, func(line []byte) any {
		var v credentialsVerdict
		var req credentialsRequest
		if err := json.Unmarshal(line, &req); err != nil {
			v.Error = "not a JSON object: " + err.Error()
		} else {
			v.ID = req.ID
			resources, err := env.serve(req)
			if err != nil {
				v.Error = err.Error()
			}
			v.Resources = resources
		}
		if v.Resources == nil {
			v.Resources = []servedResource{}
		}
		return v
	})
}

// credentialsEnv is one istiod environment (config store, service
// registries, push context), built by Istio's own test harness
// core.NewConfigGenTest, into which each request puts its Gateway.
type credentialsEnv struct {
	gen *netcore.ConfigGenTest
	t   *harnessFailer
	// clusters are the fake clusters made so far, keyed by their objects
	// and the proxy's identity and rights, oldest first in order: a fake
	// clientset costs ~10 ms to make and a corpus repeats few object sets.
	// One credentials controller serving many requests is what istiod
	// runs, too.
	clusters map[string]*fakeCluster
	order    []string
}

// maxClusters bounds the fake clusters kept running.
const maxClusters = 32

type fakeCluster struct {
	creds *credkube.Multicluster
	stop  chan struct{}
}

// harnessFailer lets NewConfigGenTest, written for tests, run in a binary:
// a failure aborts the setup with an error instead of failing a test.
type harnessFailer struct {
	cleanups []func()
}

type harnessAbort struct{ msg string }

func (f *harnessFailer) Fail()             { panic(harnessAbort{"failed"}) }
func (f *harnessFailer) FailNow()          { panic(harnessAbort{"failed"}) }
func (f *harnessFailer) Fatal(args ...any) { panic(harnessAbort{fmt.Sprint(args...)}) }
func (f *harnessFailer) Fatalf(format string, args ...any) {
	panic(harnessAbort{fmt.Sprintf(format, args...)})
}
func (f *harnessFailer) Skip(args ...any)    { panic(harnessAbort{fmt.Sprint(args...)}) }
func (f *harnessFailer) Log(...any)          {}
func (f *harnessFailer) Logf(string, ...any) {}
func (f *harnessFailer) Helper()             {}
func (f *harnessFailer) Cleanup(fn func())   { f.cleanups = append(f.cleanups, fn) }
func (f *harnessFailer) TempDir() string {
	dir, err := os.MkdirTemp("", "istio-oracle-")
	if err != nil {
		panic(harnessAbort{err.Error()})
	}
	f.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (f *harnessFailer) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	f.cleanups = nil
}

func newCredentialsEnv() (env *credentialsEnv, err error) {
	t := &harnessFailer{}
	defer func() {
		if r := recover(); r != nil {
			abort, ok := r.(harnessAbort)
			if !ok {
				panic(r)
			}
			t.runCleanups()
			env, err = nil, fmt.Errorf("failed to set up Istio's environment: %s", abort.msg)
		}
	}()
	gen := netcore.NewConfigGenTest(t, netcore.TestOptions{ClusterID: oracleCluster})
	gen.Env().GatewayAPIController = noReferenceGrants{}
	return &credentialsEnv{gen: gen, t: t, clusters: map[string]*fakeCluster{}}, nil
}

func (e *credentialsEnv) close() {
	for _, c := range e.clusters {
		close(c.stop)
	}
	e.t.runCleanups()
}

// noReferenceGrants is the Gateway API controller of a cluster with no
// ReferenceGrant: PushContext.SecretAllowed, which mergeGateways asks for a
// cross-namespace reference, is false. With the SubjectAccessReview reactor
// (the API server's RBAC) it is all the oracle stands in for; Istio's own
// model.FakeController answers true for a namespace called "allowed-ns",
// which no request should be able to hit.
type noReferenceGrants struct{ model.FakeController }

func (noReferenceGrants) SecretAllowed(config.GroupVersionKind, string, string) bool { return false }

// serve answers one request.
func (e *credentialsEnv) serve(req credentialsRequest) ([]servedResource, error) {
	if req.ProxyNamespace == "" || req.GatewayNamespace == "" {
		return nil, errors.New("gatewayNamespace and proxyNamespace are required")
	}
	tls := &networking.ServerTLSSettings{}
	if len(req.TLS) > 0 {
		if err := protojson.Unmarshal(req.TLS, tls); err != nil {
			return nil, fmt.Errorf("failed to decode tls: %w", err)
		}
	}
	proxy, push, err := e.gatewayProxy(req, tls)
	if err != nil {
		return nil, err
	}
	// The server as the gateway merge kept it: with one server nothing
	// conflicts, so a missing one is the oracle's fault, not an answer.
	var server *networking.Server
	if proxy.MergedGateway != nil {
		for _, merged := range proxy.MergedGateway.MergedServers {
			for _, s := range merged.Servers {
				server = s
			}
		}
	}
	if server == nil {
		return nil, errors.New("istiod merged no Gateway server for the proxy")
	}

	// What the gateway's listener asks for, as istiod builds it for an
	// HTTPS server (core's buildGatewayListenerTLSContext).
	ctx := netcore.BuildListenerTLSContext(server.GetTls(), proxy, push, istionetworking.TransportProtocolTCP, false)
	var resources []servedResource
	var configs []*envoytls.SdsSecretConfig
	for _, c := range ctx.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs() {
		resources = append(resources, servedResource{Role: "certificate", ResourceName: c.GetName()})
		configs = append(configs, c)
	}
	if c := ctx.GetCommonTlsContext().GetCombinedValidationContext().GetValidationContextSdsSecretConfig(); c != nil {
		resources = append(resources, servedResource{Role: "ca", ResourceName: c.GetName()})
		configs = append(configs, c)
	}
	// Only ADS resources reach istiod's SecretGen; builtin ones come from
	// the proxy's agent, sds:// with a provider from that server.
	fromIstiod := func(c *envoytls.SdsSecretConfig) bool {
		return c.GetName() != "" && c.GetSdsConfig().GetAds() != nil
	}
	asked := sets.New[string]()
	for _, c := range configs {
		if fromIstiod(c) {
			asked.Insert(c.GetName())
		}
	}
	if asked.Len() == 0 {
		return resources, nil
	}

	answers, err := e.secretGen(req, proxy, push, asked)
	if err != nil {
		return nil, err
	}
	for i := range resources {
		if a, ok := answers[resources[i].ResourceName]; ok && fromIstiod(configs[i]) {
			resources[i].Served, resources[i].ServedAs, resources[i].ReadFrom = true, a.servedAs, a.readFrom
		}
	}
	return resources, nil
}

// gatewayProxy puts the request's Gateway (one HTTPS server with its tls)
// into the environment and returns a gateway proxy set up as istiod sets
// up a connecting one, MergedGateway included, with the push context.
func (e *credentialsEnv) gatewayProxy(req credentialsRequest, tls *networking.ServerTLSSettings) (*model.Proxy, *model.PushContext, error) {
	store := e.gen.Store()
	for _, old := range store.List(gvk.Gateway, "") {
		if err := store.Delete(gvk.Gateway, old.Name, old.Namespace, nil); err != nil {
			return nil, nil, fmt.Errorf("failed to delete the previous Gateway: %w", err)
		}
	}
	gw := config.Config{
		Meta: config.Meta{
			GroupVersionKind:  gvk.Gateway,
			Name:              "gateway",
			Namespace:         req.GatewayNamespace,
			CreationTimestamp: time.Now(),
		},
		Spec: &networking.Gateway{
			Selector: gatewayLabels,
			Servers: []*networking.Server{{
				Port:  &networking.Port{Number: 443, Name: "https", Protocol: "HTTPS"},
				Hosts: []string{"*"},
				Tls:   tls,
			}},
		},
	}
	if _, err := store.Create(gw); err != nil {
		return nil, nil, fmt.Errorf("failed to create the Gateway: %w", err)
	}
	// A full push context, as istiod builds on a config change.
	push := model.NewPushContext()
	push.InitContext(e.gen.Env(), nil, nil)
	e.gen.Env().SetPushContext(push)

	proxy := e.gen.SetupProxy(&model.Proxy{
		Type:            model.Router,
		ID:              "gateway-0." + req.ProxyNamespace,
		ConfigNamespace: req.ProxyNamespace,
		Labels:          gatewayLabels,
		VerifiedIdentity: &spiffe.Identity{
			TrustDomain:    "cluster.local",
			Namespace:      req.ProxyNamespace,
			ServiceAccount: req.ProxyServiceAccount,
		},
		Metadata: &model.NodeMetadata{
			ClusterID: oracleCluster,
			Namespace: req.ProxyNamespace,
			Labels:    gatewayLabels,
		},
	})
	return proxy, push, nil
}

type answer struct {
	servedAs, readFrom string
}

// secretGen runs istiod's SDS generator for the asked resources over a
// fake cluster holding the request's objects.
func (e *credentialsEnv) secretGen(req credentialsRequest, proxy *model.Proxy, push *model.PushContext, asked sets.String) (map[string]answer, error) {
	creds, err := e.cluster(req)
	if err != nil {
		return nil, err
	}
	gen := xds.NewSecretGen(creds, model.DisabledCache{}, oracleCluster, push.Mesh)
	watched := &model.WatchedResource{TypeUrl: v3.SecretType, ResourceNames: asked}
	results, _, err := gen.Generate(proxy, watched, &model.PushRequest{Forced: true})
	if err != nil {
		return nil, fmt.Errorf("failed to generate SDS: %w", err)
	}
	answers := map[string]answer{}
	for _, res := range results {
		secret := &envoytls.Secret{}
		if err := res.GetResource().UnmarshalTo(secret); err != nil {
			return nil, fmt.Errorf("failed to decode SDS resource %s: %w", res.GetName(), err)
		}
		var a answer
		var data *core.DataSource
		switch t := secret.GetType().(type) {
		case *envoytls.Secret_TlsCertificate:
			a.servedAs, data = "tls_certificate", t.TlsCertificate.GetCertificateChain()
		case *envoytls.Secret_ValidationContext:
			a.servedAs, data = "validation_context", t.ValidationContext.GetTrustedCa()
		default:
			return nil, fmt.Errorf("SDS resource %s is a %T", res.GetName(), t)
		}
		if a.readFrom, err = firstCommonName(data.GetInlineBytes()); err != nil {
			return nil, fmt.Errorf("failed to read SDS resource %s: %w", res.GetName(), err)
		}
		answers[res.GetName()] = a
	}
	return answers, nil
}

// cluster returns the credentials controller of a fake cluster holding the
// request's objects and RBAC, wired as Istio's own xds test server wires it
// (pilot/test/xds/fake.go): the kube credentials Multicluster over a fake
// multicluster controller.
func (e *credentialsEnv) cluster(req credentialsRequest) (*credkube.Multicluster, error) {
	secrets, configMaps := slices.Sorted(slices.Values(req.Secrets)), slices.Sorted(slices.Values(req.ConfigMaps))
	key, err := json.Marshal([]any{secrets, configMaps, req.ProxyNamespace, req.ProxyServiceAccount, req.ServiceAccountCanListSecrets})
	if err != nil {
		return nil, fmt.Errorf("failed to key the cluster: %w", err)
	}
	if c, ok := e.clusters[string(key)]; ok {
		return c.creds, nil
	}

	objects, err := credentialObjects(req)
	if err != nil {
		return nil, err
	}
	client := kube.NewFakeClient(objects...)
	clientset, ok := client.Kube().(*fake.Clientset)
	if !ok {
		return nil, fmt.Errorf("istio's fake client has a %T clientset", client.Kube())
	}
	// istiod asks the API server whether the proxy's service account may
	// list Secrets in its namespace; this cluster's RBAC grants exactly that
	// when the request says so.
	user := sa.MakeUsername(req.ProxyNamespace, req.ProxyServiceAccount)
	canList, namespace := req.ServiceAccountCanListSecrets, req.ProxyNamespace
	clientset.PrependReactor("create", "subjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		review := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		attrs := review.Spec.ResourceAttributes
		allowed := canList && review.Spec.User == user && attrs != nil &&
			attrs.Namespace == namespace && attrs.Verb == "list" && attrs.Resource == "secrets" && attrs.Group == ""
		return true, &authorizationv1.SubjectAccessReview{Status: authorizationv1.SubjectAccessReviewStatus{Allowed: allowed}}, nil
	})

	c := &fakeCluster{stop: make(chan struct{})}
	clusters := multicluster.NewFakeController()
	c.creds = credkube.NewMulticluster(oracleCluster, clusters)
	clusters.Add(oracleCluster, client, c.stop)
	client.RunAndWait(c.stop)

	if len(e.order) == maxClusters {
		close(e.clusters[e.order[0]].stop)
		delete(e.clusters, e.order[0])
		e.order = e.order[1:]
	}
	e.clusters[string(key)] = c
	e.order = append(e.order, string(key))
	return c.creds, nil
}

// credentialObjects makes the request's Secrets and ConfigMaps, each with a
// certificate naming it, so a served resource tells which object istiod
// read. A Secret has cert-manager's keys, so it serves as a key pair and as
// CA certificates; a ConfigMap has ca.crt only, as Istio reads it.
func credentialObjects(req credentialsRequest) ([]runtime.Object, error) {
	var objects []runtime.Object
	for _, key := range req.Secrets {
		ns, name, err := splitKey(key)
		if err != nil {
			return nil, err
		}
		certPEM, keyPEM, err := namedCertificate("Secret " + key)
		if err != nil {
			return nil, err
		}
		objects = append(objects, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM, "ca.crt": certPEM},
		})
	}
	for _, key := range req.ConfigMaps {
		ns, name, err := splitKey(key)
		if err != nil {
			return nil, err
		}
		certPEM, _, err := namedCertificate("ConfigMap " + key)
		if err != nil {
			return nil, err
		}
		objects = append(objects, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Data:       map[string]string{"ca.crt": string(certPEM)},
		})
	}
	return objects, nil
}

func splitKey(key string) (namespace, name string, err error) {
	namespace, name, ok := strings.Cut(key, "/")
	if !ok || namespace == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("object %q is not namespace/name", key)
	}
	return namespace, name, nil
}

// namedCertificate makes a self-signed certificate, valid now, whose
// CommonName is cn, with a fresh key.
func namedCertificate(cn string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to generate a key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, fmt.Errorf("failed to generate a serial number: %w", err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to create a certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to encode a key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

func firstCommonName(data []byte) (string, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return "", errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("failed to parse the certificate: %w", err)
	}
	return cert.Subject.CommonName, nil
}
