package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/e2e/framework"
)

// The ingress gateway as Istio's gateway chart installs it: the release
// name is the Deployment's and ServiceAccount's name, and the chart's Role
// lets that account read Secrets of its namespace, which istiod requires
// before it serves a credential (pilot/pkg/xds/sds.go
// filterAuthorizedResources).
const (
	gatewayChartPath    = "manifests/charts/gateway"
	ingressGatewayName  = "istio-ingressgateway"
	sdsGatewayNamespace = "team-a"
)

// The Gateways the stand-in gateway serves: one SIMPLE server with two
// hosts and one MUTUAL server verifying clients with the issuer's CA (the
// ca.crt of the credential, as istiod reads <credential>-cacert), and a
// MUTUAL Gateway whose client CA is the peer mesh's roots, wired by
// meshcert as a caCertCredentialName ConfigMap.
const sdsGatewaysManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  annotations: {meshcert.io/allowed-hosts: "*.example.com", meshcert.io/allowed-issuers: ClusterIssuer/mesh-root}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: shop
  namespace: team-a
  annotations:
    cert-manager.io/cluster-issuer: mesh-root
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com, www.shop.example.com]
    tls: {mode: SIMPLE}
  - port: {number: 443, name: https-internal, protocol: HTTPS}
    hosts: [internal.shop.example.com]
    tls: {mode: MUTUAL}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: partner
  namespace: team-a
  annotations:
    cert-manager.io/cluster-issuer: mesh-root
    meshcert.io/client-ca: peer-roots
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-partner, protocol: HTTPS}
    hosts: [partner.example.com]
    tls: {mode: MUTUAL}
`

// sdsStack is a plane with cert-manager, meshcert and istiod, the gateway
// chart's ingress gateway (without kubelet its Pods never run: a stand-in
// takes their place) and the Gateways above with Ready Certificates.
type sdsStack struct {
	cp     *framework.ControlPlane
	istiod *framework.Istiod
	// issuerRoot is the CA of ClusterIssuer mesh-root; peerRoot the root of
	// the peer mesh, in ConfigMap peer-roots.
	issuerRoot, peerRoot offlineCA
	// gatewayLabels are the Pod labels of the chart's Deployment.
	gatewayLabels map[string]string
	// Credential Secrets meshcert named, in istio-system.
	shop, internal, partner string
}

func startSDSStack(t *testing.T) *sdsStack {
	t.Helper()
	s := &sdsStack{
		cp:         framework.Start(t),
		issuerRoot: newOfflineCA(t, "gateway issuer root"),
		peerRoot:   newOfflineCA(t, "peer mesh root"),
		shop:       certs.CredentialName(sdsGatewayNamespace, "shop", "https"),
		internal:   certs.CredentialName(sdsGatewayNamespace, "shop", "https-internal"),
		partner:    certs.CredentialName(sdsGatewayNamespace, "partner", "https-partner"),
	}
	startMeshcert(t, s.cp, framework.MeshcertConfig{})
	s.gatewayLabels = installIngressGateway(t, s.cp, framework.IstioNamespace)
	manifests := meshRootManifests(s.issuerRoot, s.peerRoot.certPEM) + "---\n" + sdsGatewaysManifest
	eventually(t, "Gateways applied", func(context.Context) error {
		if _, stderr, err := kubectlRun(t, s.cp, manifests, "apply", "-f", "-"); err != nil {
			return fmt.Errorf("%w: %s", err, stderr)
		}
		return nil
	})
	for _, credential := range []string{s.shop, s.internal, s.partner} {
		ready(t, s.cp.Client, framework.IstioNamespace, credential)
	}
	s.istiod = startIstiod(t, s.cp, framework.IstiodConfig{})
	return s
}

// installIngressGateway renders Istio's gateway chart as
// `helm template istio-ingressgateway` into namespace, applies it, waits for
// the Deployment's Pods to exist (meshcert finds a Gateway's workload by
// them) and returns their labels.
func installIngressGateway(t *testing.T, cp *framework.ControlPlane, namespace string) map[string]string {
	t.Helper()
	chart := filepath.Join(istioModuleDir(t), gatewayChartPath)
	rendered, err := helmOutput(t, cp.Tools.Helm, "", "template", ingressGatewayName, chart, "--namespace", namespace)
	require.NoError(t, err)
	manifest := fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n---\n%s", namespace, rendered)
	eventually(t, "gateway chart applied in "+namespace, func(context.Context) error {
		if _, stderr, err := kubectlRun(t, cp, manifest, "apply", "-f", "-"); err != nil {
			return fmt.Errorf("%w: %s", err, stderr)
		}
		return nil
	})
	deployment := &appsv1.Deployment{}
	require.NoError(t, cp.Client.Get(t.Context(), types.NamespacedName{Namespace: namespace, Name: ingressGatewayName}, deployment))
	labels := deployment.Spec.Template.Labels
	require.NotEmpty(t, labels)
	assert.Equal(t, "ingressgateway", labels["istio"], "the chart labels its Pods istio=ingressgateway")
	eventually(t, "the gateway's Pods exist in "+namespace, func(ctx context.Context) error {
		pods := &corev1.PodList{}
		if err := cp.Client.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabels(labels)); err != nil {
			return err
		}
		if len(pods.Items) == 0 {
			return errors.New("no Pods yet")
		}
		return nil
	})
	return labels
}

// connectGateway connects a gateway stand-in to istiod as a router with the
// chart's Pod labels, authenticated as ServiceAccount namespace/account by
// its token and by a workload certificate istiod's CA signed for it;
// claimedNamespace is the NAMESPACE it tells istiod (its own, unless a test
// lies).
func connectGateway(t *testing.T, s *sdsStack, namespace, account, claimedNamespace string) *framework.XDSClient {
	t.Helper()
	ctx := t.Context()
	key, _, chain := requireWorkloadKeyAndCertificate(t, s.cp, s.istiod, namespace, account)
	token, err := s.cp.IstioCAToken(ctx, namespace, account)
	require.NoError(t, err)
	certificate := tls.Certificate{PrivateKey: key}
	for _, c := range chain[:len(chain)-1] {
		certificate.Certificate = append(certificate.Certificate, c.Raw)
	}
	proxy, err := s.istiod.ConnectProxy(ctx, framework.ProxyIdentity{
		Type:           "router",
		Namespace:      claimedNamespace,
		ServiceAccount: account,
		PodName:        ingressGatewayName + "-0",
		// No Pod has this address, so istiod takes the labels from the node.
		IP:          "10.244.0.10",
		Labels:      s.gatewayLabels,
		Token:       token,
		Certificate: &certificate,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	return proxy
}

// tlsChainFor waits for the listener filter chain istiod built for
// serverName and returns it.
func tlsChainFor(t *testing.T, proxy *framework.XDSClient, serverName string) framework.TLSFilterChain {
	t.Helper()
	var found framework.TLSFilterChain
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	err := proxy.WaitFor(ctx, func(c *framework.XDSClient) (bool, error) {
		chains, err := c.TLSFilterChains()
		if err != nil {
			return false, err
		}
		for _, chain := range chains {
			if slices.Contains(chain.ServerNames, serverName) {
				found = chain
				return true, nil
			}
		}
		return false, nil
	})
	require.NoError(t, err, "istiod sends a TLS filter chain for %s", serverName)
	return found
}

// waitSecrets waits until istiod has sent every named secret.
func waitSecrets(t *testing.T, proxy *framework.XDSClient, names ...string) map[string]*tlsv3.Secret {
	t.Helper()
	out := map[string]*tlsv3.Secret{}
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	err := proxy.WaitFor(ctx, func(c *framework.XDSClient) (bool, error) {
		for _, name := range names {
			secret, err := c.Secret(name)
			if err != nil || secret == nil {
				return false, err
			}
			out[name] = secret
		}
		return true, nil
	})
	require.NoError(t, err, "istiod sends secrets %v", names)
	return out
}

// servedKeyPair is the certificate and key of an SDS TLS secret, as Envoy
// would load them.
func servedKeyPair(t *testing.T, secret *tlsv3.Secret) tls.Certificate {
	t.Helper()
	served := secret.GetTlsCertificate()
	require.NotNil(t, served, "secret %s holds a certificate", secret.GetName())
	pair, err := tls.X509KeyPair(served.GetCertificateChain().GetInlineBytes(), served.GetPrivateKey().GetInlineBytes())
	require.NoError(t, err)
	return pair
}

// servedClientCAs is the trusted CA of an SDS validation secret.
func servedClientCAs(t *testing.T, secret *tlsv3.Secret) *x509.CertPool {
	t.Helper()
	trusted := secret.GetValidationContext().GetTrustedCa().GetInlineBytes()
	require.NotEmpty(t, trusted, "secret %s holds a trusted CA", secret.GetName())
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(trusted))
	return pool
}

// serverTLS handshakes once with a server presenting pair and returns the
// client's error: the client verifies it against roots for serverName.
func serverTLS(t *testing.T, pair tls.Certificate, roots *x509.CertPool, serverName string) error {
	t.Helper()
	listener, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	defer func() { _ = listener.Close() }()
	go func() {
		conn, err := listener.Accept()
		if err != nil {
			return
		}
		defer func() { _ = conn.Close() }()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_ = conn.(*tls.Conn).Handshake()
	}()
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{ServerName: serverName, RootCAs: roots, MinVersion: tls.VersionTLS12}}
	conn, err := dialer.DialContext(t.Context(), "tcp", listener.Addr().String())
	if err == nil {
		_ = conn.Close()
	}
	return err
}

// workloadCertificate issues a client certificate for a mesh workload
// (SPIFFE URI) from an intermediate of root, as a peer cluster's istiod
// signs with its cacerts intermediate.
func workloadCertificate(t *testing.T, root offlineCA, spiffeURI string) tls.Certificate {
	t.Helper()
	rootKey := parsePKCS8Signer(t, root.keyPEM)
	intermediateKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	intermediate := createCertificate(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "peer cluster intermediate"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, root.cert, intermediateKey.Public(), rootKey)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	uri, err := url.Parse(spiffeURI)
	require.NoError(t, err)
	leaf := createCertificate(t, &x509.Certificate{
		URIs:        []*url.URL{uri},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}, intermediate, leafKey.Public(), intermediateKey)
	return tls.Certificate{Certificate: [][]byte{leaf.Raw, intermediate.Raw}, PrivateKey: leafKey, Leaf: leaf}
}

func createCertificate(t *testing.T, template, parent *x509.Certificate, public any, signer any) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	template.SerialNumber = serial
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(24 * time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, template, parent, public, signer)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}

// parsePKCS8Signer reads the key of an offlineCA.
func parsePKCS8Signer(t *testing.T, keyPEM []byte) any {
	t.Helper()
	block, _ := pem.Decode(keyPEM)
	require.NotNil(t, block)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	return key
}

// TestIstiodServesGatewayCredential follows a meshcert-managed credential to
// the gateway through istiod's own xDS and SDS: a gateway stand-in,
// authenticated as the chart's ServiceAccount, gets listeners naming the
// credentials meshcert injected and secrets holding exactly what
// cert-manager issued; a TLS server built from them serves each host of the
// Gateway and verifies clients with the CA meshcert wired. A stand-in of
// another namespace, or without the chart's Secret access, is refused by
// istiod.
func TestIstiodServesGatewayCredential(t *testing.T) {
	s := startSDSStack(t)
	proxy := connectGateway(t, s, framework.IstioNamespace, ingressGatewayName, framework.IstioNamespace)
	require.NoError(t, proxy.Subscribe(framework.ListenerType))

	shop := tlsChainFor(t, proxy, "shop.example.com")
	internal := tlsChainFor(t, proxy, "internal.shop.example.com")
	partner := tlsChainFor(t, proxy, "partner.example.com")
	t.Run("the listener serves each Gateway server with the credential meshcert injected", func(t *testing.T) {
		assert.ElementsMatch(t, []string{"shop.example.com", "www.shop.example.com"}, shop.ServerNames)
		assert.Equal(t, []string{"kubernetes://" + s.shop}, shop.CertificateSecrets)
		assert.Empty(t, shop.ValidationSecret, "a SIMPLE server asks for no client certificate")
		assert.Equal(t, []string{"kubernetes://" + s.internal}, internal.CertificateSecrets)
		assert.Equal(t, "kubernetes://"+s.internal+"-cacert", internal.ValidationSecret, "a MUTUAL server verifies clients with the credential's ca.crt")
		assert.True(t, internal.RequireClientCert)
		assert.Equal(t, []string{"kubernetes://" + s.partner}, partner.CertificateSecrets)
		assert.Equal(t, "configmap://"+framework.IstioNamespace+"/peer-roots", partner.ValidationSecret, "the client CA meshcert injected")
		assert.True(t, partner.RequireClientCert)
	})

	names := []string{shop.CertificateSecrets[0], internal.CertificateSecrets[0], internal.ValidationSecret, partner.CertificateSecrets[0], partner.ValidationSecret}
	require.NoError(t, proxy.Subscribe(framework.SecretType, names...))
	secrets := waitSecrets(t, proxy, names...)

	t.Run("istiod sends the certificate and key cert-manager wrote into the credential Secret", func(t *testing.T) {
		for _, credential := range []string{s.shop, s.internal, s.partner} {
			stored := &corev1.Secret{}
			require.NoError(t, s.cp.Client.Get(t.Context(), types.NamespacedName{Namespace: framework.IstioNamespace, Name: credential}, stored))
			served := secrets["kubernetes://"+credential].GetTlsCertificate()
			require.NotNil(t, served)
			assert.Equal(t, stored.Data[corev1.TLSCertKey], served.GetCertificateChain().GetInlineBytes(), credential)
			assert.Equal(t, stored.Data[corev1.TLSPrivateKeyKey], served.GetPrivateKey().GetInlineBytes(), credential)
		}
	})

	issuerRoots := poolOf(s.issuerRoot.cert)
	t.Run("a TLS server built from what istiod sent serves each host of the Gateway and no other", func(t *testing.T) {
		pair := servedKeyPair(t, secrets["kubernetes://"+s.shop])
		for _, host := range []string{"shop.example.com", "www.shop.example.com"} {
			require.NoError(t, serverTLS(t, pair, issuerRoots, host), host)
		}
		err := serverTLS(t, pair, issuerRoots, "internal.shop.example.com")
		require.Error(t, err, "a host of another server of the Gateway is not in this certificate")
		assert.Contains(t, err.Error(), "certificate is valid for")
		assert.Error(t, serverTLS(t, pair, poolOf(s.peerRoot.cert), "shop.example.com"), "and it chains to the issuer's root only")
	})

	stranger := newOfflineCA(t, "unrelated root")
	t.Run("the MUTUAL server verifies clients with the issuer's CA from the credential's ca.crt", func(t *testing.T) {
		pair := servedKeyPair(t, secrets["kubernetes://"+s.internal])
		clientCAs := servedClientCAs(t, secrets[internal.ValidationSecret])
		accepted := workloadCertificate(t, s.issuerRoot, spiffeID("payments", "client"))
		require.NoError(t, mutualTLS(t, pair, clientCAs, accepted, issuerRoots, "internal.shop.example.com"))
		refused := workloadCertificate(t, stranger, spiffeID("payments", "client"))
		err := mutualTLS(t, pair, clientCAs, refused, issuerRoots, "internal.shop.example.com")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "certificate signed by unknown authority")
	})
	t.Run("the MUTUAL server with meshcert's client CA accepts the peer mesh's workloads and no others", func(t *testing.T) {
		pair := servedKeyPair(t, secrets["kubernetes://"+s.partner])
		clientCAs := servedClientCAs(t, secrets[partner.ValidationSecret])
		accepted := workloadCertificate(t, s.peerRoot, spiffeID("payments", "client"))
		require.NoError(t, mutualTLS(t, pair, clientCAs, accepted, issuerRoots, "partner.example.com"))
		refused := workloadCertificate(t, stranger, spiffeID("payments", "client"))
		err := mutualTLS(t, pair, clientCAs, refused, issuerRoots, "partner.example.com")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "certificate signed by unknown authority")
	})

	t.Run("istiod refuses a stand-in authenticated as another namespace's ServiceAccount that claims the gateway's namespace", func(t *testing.T) {
		impostor := connectGateway(t, s, "team-b", ingressGatewayName, framework.IstioNamespace)
		_ = impostor.Subscribe(framework.SecretType, "kubernetes://"+s.shop)
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		err := impostor.WaitFor(ctx, func(c *framework.XDSClient) (bool, error) { return false, nil })
		require.Error(t, err)
		assert.Equal(t, codes.PermissionDenied, status.Code(errors.Unwrap(err)), "%v", err)
		assert.Empty(t, impostor.Resources(framework.SecretType))
	})
	t.Run("istiod refuses another namespace's gateway, with the chart's RBAC, a credential of istio-system", func(t *testing.T) {
		installIngressGateway(t, s.cp, "team-b")
		own := createTLSSecret(t, s, "team-b", "team-b-own")
		other := connectGateway(t, s, "team-b", ingressGatewayName, "team-b")
		foreign := "kubernetes://" + framework.IstioNamespace + "/" + s.shop
		require.NoError(t, other.Subscribe(framework.SecretType, "kubernetes://"+own, foreign))
		// Its own Secret arrives: istiod has judged the request.
		waitSecrets(t, other, "kubernetes://"+own)
		secret, err := other.Secret(foreign)
		require.NoError(t, err)
		assert.Nil(t, secret, "istiod sends no Secret of another namespace")
		assert.True(t, s.istiod.LogContains("attempted to access unauthorized certificates"), "istiod logs the refusal")
	})
	t.Run("istiod refuses the credential to a gateway account of istio-system without the chart's Secret access", func(t *testing.T) {
		bare := connectGateway(t, s, framework.IstioNamespace, "no-secret-access", framework.IstioNamespace)
		credential, caOnly := "kubernetes://"+s.internal, internal.ValidationSecret
		require.NoError(t, bare.Subscribe(framework.SecretType, credential, caOnly))
		// A CA needs no Secret access: once it arrives, istiod has judged.
		waitSecrets(t, bare, caOnly)
		secret, err := bare.Secret(credential)
		require.NoError(t, err)
		assert.Nil(t, secret, "no key without the Role the gateway chart gives its account")
	})
}

// createTLSSecret stores a self-signed key pair as a kubernetes.io/tls
// Secret.
func createTLSSecret(t *testing.T, s *sdsStack, namespace, name string) string {
	t.Helper()
	ca := newOfflineCA(t, name)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: ca.certPEM, corev1.TLSPrivateKeyKey: ca.keyPEM},
	}
	require.NoError(t, s.cp.Client.Create(t.Context(), secret))
	return name
}

// renewCertificate asks cert-manager to re-issue a Certificate now, as
// `cmctl renew` does: an Issuing condition, reason ManuallyTriggered.
func renewCertificate(t *testing.T, c client.Client, namespace, name string) {
	t.Helper()
	eventually(t, "Certificate "+namespace+"/"+name+" marked for renewal", func(ctx context.Context) error {
		crt := &cmapi.Certificate{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, crt); err != nil {
			return err
		}
		now := metav1.Now()
		crt.Status.Conditions = append(slices.DeleteFunc(crt.Status.Conditions, func(c cmapi.CertificateCondition) bool {
			return c.Type == cmapi.CertificateConditionIssuing
		}), cmapi.CertificateCondition{
			Type:               cmapi.CertificateConditionIssuing,
			Status:             cmmeta.ConditionTrue,
			Reason:             "ManuallyTriggered",
			Message:            "Certificate re-issuance manually triggered",
			LastTransitionTime: &now,
			ObservedGeneration: crt.Generation,
		})
		return c.Status().Update(ctx, crt)
	})
}

// TestIstiodPushesRenewedCredential renews a meshcert-managed Certificate
// while a gateway stand-in is connected: istiod pushes the new certificate
// (a new serial, what cert-manager wrote) as a new secret version, and every
// listener update in between still holds the Gateway's listener.
func TestIstiodPushesRenewedCredential(t *testing.T) {
	s := startSDSStack(t)
	proxy := connectGateway(t, s, framework.IstioNamespace, ingressGatewayName, framework.IstioNamespace)
	require.NoError(t, proxy.Subscribe(framework.ListenerType))
	chain := tlsChainFor(t, proxy, "shop.example.com")
	credential := "kubernetes://" + s.shop
	require.NoError(t, proxy.Subscribe(framework.SecretType, credential))
	before := servedKeyPair(t, waitSecrets(t, proxy, credential)[credential])
	secretVersions := func() []string {
		var versions []string
		for _, r := range proxy.Responses() {
			if r.TypeURL == framework.SecretType && slices.Contains(r.Names, credential) {
				versions = append(versions, r.Version)
			}
		}
		return versions
	}
	versionsBefore := secretVersions()

	renewCertificate(t, s.cp.Client, framework.IstioNamespace, s.shop)
	var after tls.Certificate
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitTimeout)
	defer cancel()
	require.NoError(t, proxy.WaitFor(ctx, func(c *framework.XDSClient) (bool, error) {
		secret, err := c.Secret(credential)
		if err != nil || secret == nil {
			return false, err
		}
		served, err := tls.X509KeyPair(secret.GetTlsCertificate().GetCertificateChain().GetInlineBytes(), secret.GetTlsCertificate().GetPrivateKey().GetInlineBytes())
		if err != nil {
			return false, err
		}
		after = served
		return !bytes.Equal(served.Certificate[0], before.Certificate[0]), nil
	}), "istiod pushes the renewed certificate")

	t.Run("the pushed certificate is the one cert-manager re-issued, with a new serial", func(t *testing.T) {
		assert.NotEqual(t, before.Leaf.SerialNumber, after.Leaf.SerialNumber)
		ready(t, s.cp.Client, framework.IstioNamespace, s.shop)
		stored := &corev1.Secret{}
		require.NoError(t, s.cp.Client.Get(t.Context(), types.NamespacedName{Namespace: framework.IstioNamespace, Name: s.shop}, stored))
		storedPair, err := tls.X509KeyPair(stored.Data[corev1.TLSCertKey], stored.Data[corev1.TLSPrivateKeyKey])
		require.NoError(t, err)
		assert.Equal(t, storedPair.Certificate[0], after.Certificate[0], "the leaf in the Secret now")
		assert.NoError(t, serverTLS(t, after, poolOf(s.issuerRoot.cert), "shop.example.com"))
	})
	t.Run("as a new secret version, without the Gateway's listener leaving in between", func(t *testing.T) {
		versionsAfter := secretVersions()
		require.Greater(t, len(versionsAfter), len(versionsBefore))
		assert.NotEqual(t, versionsBefore[len(versionsBefore)-1], versionsAfter[len(versionsAfter)-1])
		listenerUpdates := 0
		for _, r := range proxy.Responses() {
			if r.TypeURL != framework.ListenerType {
				continue
			}
			listenerUpdates++
			assert.Contains(t, r.Names, chain.Listener, "listener update %s at %s", r.Version, r.At.Format(time.RFC3339Nano))
		}
		assert.Positive(t, listenerUpdates)
		t.Logf("%d listener updates, secret versions %v", listenerUpdates, versionsAfter)
		assert.Equal(t, chain, tlsChainFor(t, proxy, "shop.example.com"), "the filter chain is unchanged: the secret changed, not the listener")
	})
}
