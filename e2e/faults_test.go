package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/e2e/framework"
)

// burstGateway is a managed Gateway with one HTTPS server for host.
func burstGateway(namespace, name, host string) *unstructured.Unstructured {
	gw := gatewayObject(namespace, name)
	gw.SetAnnotations(map[string]string{"cert-manager.io/cluster-issuer": "gateway-ca"})
	gw.Object["spec"] = map[string]any{
		"selector": map[string]any{"istio": "ingressgateway"},
		"servers": []any{map[string]any{
			"port":  map[string]any{"number": int64(443), "name": "https", "protocol": "HTTPS"},
			"hosts": []any{host},
			"tls":   map[string]any{"mode": "SIMPLE"},
		}},
	}
	return gw
}

// managedCertificates lists meshcert's Certificates by name.
func managedCertificates(ctx context.Context, c client.Client) (map[string]*cmapi.Certificate, error) {
	var list cmapi.CertificateList
	if err := c.List(ctx, &list, client.MatchingLabels{certs.LabelManagedBy: certs.ManagedByValue}); err != nil {
		return nil, err
	}
	out := map[string]*cmapi.Certificate{}
	for i := range list.Items {
		out[list.Items[i].Namespace+"/"+list.Items[i].Name] = &list.Items[i]
	}
	return out, nil
}

// TestMeshcertKilledDuringABurst: 200 Gateways are created by 8 writers
// while meshcert is killed with SIGKILL a quarter of the way in and
// restarted at three quarters. With the webhooks' Ignore failure policy
// the API server admits what arrives while meshcert is down, without a
// credentialName. Afterwards every Gateway has exactly its one Certificate,
// under the name the webhook injects (or would have), and there is no
// Certificate without a Gateway.
func TestMeshcertKilledDuringABurst(t *testing.T) {
	const gateways, writers = 200, 8
	cp := framework.Start(t, framework.WithoutCertManager())
	m := startMeshcert(t, cp, framework.MeshcertConfig{LeaderElect: true, FailurePolicy: admissionregistrationv1.Ignore})
	ctx := t.Context()
	require.NoError(t, cp.Client.Create(ctx, tenantNamespace("burst")))

	var created atomic.Int64
	killed, restarted := make(chan struct{}), make(chan struct{})
	var faults sync.WaitGroup
	var killErr, restartErr error
	faults.Go(func() {
		for created.Load() < gateways/4 {
			time.Sleep(5 * time.Millisecond)
		}
		killErr = m.Kill()
		close(killed)
		for created.Load() < 3*gateways/4 {
			time.Sleep(5 * time.Millisecond)
		}
		restartErr = m.Restart(ctx)
		close(restarted)
	})
	next := make(chan int)
	writeErrs := make(chan error, gateways)
	var work sync.WaitGroup
	for range writers {
		work.Go(func() {
			for i := range next {
				gw := burstGateway("burst", fmt.Sprintf("gw-%03d", i), fmt.Sprintf("gw-%03d.burst.example.com", i))
				writeErrs <- retry.OnError(retry.DefaultBackoff, func(error) bool { return true }, func() error {
					return client.IgnoreAlreadyExists(cp.Client.Create(ctx, gw.DeepCopy()))
				})
				created.Add(1)
			}
		})
	}
	for i := range gateways {
		next <- i
	}
	close(next)
	work.Wait()
	faults.Wait()
	<-killed
	<-restarted
	require.NoError(t, killErr)
	require.NoError(t, restartErr)
	close(writeErrs)
	for err := range writeErrs {
		require.NoError(t, err, "every Gateway is created in the end")
	}

	want := map[string]bool{}
	for i := range gateways {
		want["istio-system/"+certs.CredentialName("burst", fmt.Sprintf("gw-%03d", i), "https")] = true
	}
	eventually(t, "one Certificate for each of the 200 Gateways", func(ctx context.Context) error {
		got, err := managedCertificates(ctx, cp.Client)
		if err != nil {
			return err
		}
		var missing []string
		for name := range want {
			if got[name] == nil {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			return fmt.Errorf("%d missing, first %s", len(missing), missing[0])
		}
		return nil
	})
	got, err := managedCertificates(ctx, cp.Client)
	require.NoError(t, err)
	for name, crt := range got {
		assert.True(t, want[name], "Certificate %s belongs to no Gateway of the burst (orphaned or duplicated)", name)
		assert.Len(t, crt.Spec.DNSNames, 1, name)
	}
	assert.Len(t, got, gateways, "exactly one Certificate per Gateway")
	bypassed := 0
	for i := range gateways {
		gw := gatewayObject("burst", fmt.Sprintf("gw-%03d", i))
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(gw), gw))
		if cred, _, _ := unstructured.NestedString(gw.Object["spec"].(map[string]any)["servers"].([]any)[0].(map[string]any), "tls", "credentialName"); cred == "" {
			bypassed++
		}
	}
	t.Logf("%d of %d Gateways were admitted while meshcert was down (no credentialName); each still has its Certificate", bypassed, gateways)
}

// TestConcurrentWritersOfOneGateway: two writers add hosts to one Gateway
// at the same time, each retrying on conflict as client-go's helper does.
// Every write goes through meshcert's webhooks; the final Gateway holds
// every host and its injected credential, and the Certificate follows.
func TestConcurrentWritersOfOneGateway(t *testing.T) {
	const perWriter = 15
	cp := framework.Start(t, framework.WithoutCertManager())
	startMeshcert(t, cp, framework.MeshcertConfig{LeaderElect: true})
	ctx := t.Context()
	require.NoError(t, cp.Client.Create(ctx, tenantNamespace("shared")))
	require.NoError(t, cp.Client.Create(ctx, burstGateway("shared", "web", "web.shared.example.com")))

	var conflicts atomic.Int64
	var writers sync.WaitGroup
	for _, writer := range []string{"a", "b"} {
		writers.Go(func() {
			for i := range perWriter {
				host := fmt.Sprintf("%s-%02d.shared.example.com", writer, i)
				// Two writers racing 15 times each outlast client-go's
				// DefaultRetry (5 tries); patient writers retry longer.
				patient := wait.Backoff{Steps: 100, Duration: 5 * time.Millisecond, Factor: 1.2, Jitter: 1, Cap: 200 * time.Millisecond}
				err := retry.RetryOnConflict(patient, func() error {
					gw := gatewayObject("shared", "web")
					if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(gw), gw); err != nil {
						return err
					}
					server := gw.Object["spec"].(map[string]any)["servers"].([]any)[0].(map[string]any)
					server["hosts"] = append(server["hosts"].([]any), host)
					err := cp.Client.Update(ctx, gw)
					if apierrors.IsConflict(err) {
						conflicts.Add(1)
					}
					return err
				})
				assert.NoError(t, err, "writer %s, host %s", writer, host)
			}
		})
	}
	writers.Wait()
	t.Logf("%d conflicts retried", conflicts.Load())

	wantHosts := []string{"web.shared.example.com"}
	for _, writer := range []string{"a", "b"} {
		for i := range perWriter {
			wantHosts = append(wantHosts, fmt.Sprintf("%s-%02d.shared.example.com", writer, i))
		}
	}
	slices.Sort(wantHosts)
	gw := gatewayObject("shared", "web")
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(gw), gw))
	server := gw.Object["spec"].(map[string]any)["servers"].([]any)[0].(map[string]any)
	var hosts []string
	for _, h := range server["hosts"].([]any) {
		hosts = append(hosts, h.(string))
	}
	slices.Sort(hosts)
	assert.Equal(t, wantHosts, hosts, "no write is lost")
	credential := certs.CredentialName("shared", "web", "https")
	assert.Equal(t, credential, server["tls"].(map[string]any)["credentialName"], "the injection survives every update")
	eventually(t, "the Certificate holds every host", func(ctx context.Context) error {
		crt := &cmapi.Certificate{}
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: credential}, crt); err != nil {
			return err
		}
		if !slices.Equal(crt.Spec.DNSNames, wantHosts) {
			return errors.New("dnsNames not there yet")
		}
		return nil
	})
}

// TestServingCertificateReplacedUnderLoad: four clients post admission
// reviews to meshcert, each on a new TLS connection, while the serving
// certificate is replaced on disk as the kubelet does when cert-manager
// renews it. meshcert serves the new certificate without a restart, and no
// request fails.
func TestServingCertificateReplacedUnderLoad(t *testing.T) {
	cp := framework.Start(t, framework.WithoutCertManager())
	m := startMeshcert(t, cp, framework.MeshcertConfig{})
	ctx := t.Context()
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(m.CABundle))
	httpClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true, // a handshake per request, so each sees the certificate served then
	}}
	review := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"networking.istio.io","version":"v1","kind":"Gateway"},` +
		`"resource":{"group":"networking.istio.io","version":"v1","resource":"gateways"},"namespace":"team-a","name":"web","operation":"CREATE","userInfo":{},` +
		`"object":{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"web","namespace":"team-a"},"spec":{"servers":[]}}}}`)

	var requests, failures atomic.Int64
	var served sync.Map // serial → true
	post := func() error {
		resp, err := httpClient.Post(m.WebhookURL+"/validate-gateway", "application/json", bytes.NewReader(review))
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		var answer admissionv1.AdmissionReview
		if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
			return fmt.Errorf("failed to decode the answer: %w", err)
		}
		if answer.Response == nil || answer.Response.UID != "u" {
			return errors.New("no answer to this request")
		}
		served.Store(resp.TLS.PeerCertificates[0].SerialNumber.String(), true)
		return nil
	}
	loadCtx, stop := context.WithCancel(ctx)
	var load sync.WaitGroup
	for range 4 {
		load.Go(func() {
			for loadCtx.Err() == nil {
				requests.Add(1)
				if err := post(); err != nil {
					failures.Add(1)
					t.Logf("request failed: %v", err)
				}
			}
		})
	}
	time.Sleep(2 * time.Second)
	newPEM, err := m.RotateServingCertificate()
	require.NoError(t, err)
	block, _ := pem.Decode(newPEM)
	require.NotNil(t, block)
	rotated, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	eventually(t, "the new serving certificate served", func(context.Context) error {
		if _, ok := served.Load(rotated.SerialNumber.String()); !ok {
			return errors.New("still the old certificate")
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	stop()
	load.Wait()
	t.Logf("%d requests, %d failed", requests.Load(), failures.Load())
	assert.Zero(t, failures.Load(), "no request fails while the certificate is replaced")
	assert.Greater(t, requests.Load(), int64(100), "the load was real")
	assert.NotEmpty(t, m.LogTail(5))
}

// TestCertManagerDownThenBack: with cert-manager not running, meshcert
// still creates the Certificate of a new Gateway, and it waits, not
// issued; when cert-manager comes back, it is issued and serves TLS for
// the Gateway's hosts. Nothing is lost in between.
func TestCertManagerDownThenBack(t *testing.T) {
	cp := framework.Start(t, framework.WithoutCertManager())
	startMeshcert(t, cp, framework.MeshcertConfig{})
	applyExamples(t, cp)
	ctx := t.Context()
	credential := certs.CredentialName("team-a", "shop", "shop-https")

	crt := &cmapi.Certificate{}
	eventually(t, "the Certificate created while cert-manager is down", func(ctx context.Context) error {
		return cp.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: credential}, crt)
	})
	time.Sleep(2 * time.Second)
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: credential}, crt))
	assert.Empty(t, crt.Status.Conditions, "nobody issues it yet")
	err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: credential}, &corev1.Secret{})
	assert.True(t, apierrors.IsNotFound(err), "no Secret without cert-manager: %v", err)

	require.NoError(t, cp.StartCertManager(ctx))
	ready(t, cp.Client, "istio-system", credential)
	secret := &corev1.Secret{}
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: credential}, secret))
	verifyTLS(t, secret, []string{"shop.example.com", "www.shop.example.com"})
}

// isLeader reads whether a replica holds the Lease, from
// controller-runtime's leader_election_master_status metric.
func isLeader(ctx context.Context, m *framework.Meshcert) (bool, error) {
	metrics, err := m.Metrics(ctx)
	if err != nil {
		return false, err
	}
	return framework.MetricValue(metrics, "leader_election_master_status") == 1, nil
}

// TestLeaderKilled: two replicas, the leader killed with SIGKILL (so it
// never releases its Lease). The other replica keeps answering every
// admission request while it waits out the Lease, then takes over and
// creates the Certificates of Gateways made in the meantime.
func TestLeaderKilled(t *testing.T) {
	cp := framework.Start(t, framework.WithoutCertManager())
	ctx := t.Context()
	leader := startMeshcert(t, cp, framework.MeshcertConfig{Name: "meshcert-a", LeaderElect: true})
	eventually(t, "replica a leads", func(ctx context.Context) error {
		ok, err := isLeader(ctx, leader)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("not leading yet")
		}
		return nil
	})
	// The webhooks now point at replica b, which is not the leader.
	follower := startMeshcert(t, cp, framework.MeshcertConfig{Name: "meshcert-b", LeaderElect: true})
	ok, err := isLeader(ctx, follower)
	require.NoError(t, err)
	require.False(t, ok, "replica b follows")
	require.NoError(t, cp.Client.Create(ctx, tenantNamespace("ha")))

	require.NoError(t, leader.Kill())
	killed := time.Now()
	// Admission goes on while the Lease runs out: every create is
	// answered by replica b (the webhooks' failure policy is Fail, so an
	// unanswered request would be an error here).
	var created []string
	for i := 0; time.Since(killed) < 20*time.Second; i++ {
		name := fmt.Sprintf("gw-%03d", i)
		require.NoError(t, cp.Client.Create(ctx, burstGateway("ha", name, name+".ha.example.com")), "admission while the leader is gone")
		created = append(created, name)
		time.Sleep(200 * time.Millisecond)
	}
	eventually(t, "every Certificate created by the new leader", func(ctx context.Context) error {
		for _, name := range created {
			credential := certs.CredentialName("ha", name, "https")
			if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: credential}, &cmapi.Certificate{}); err != nil {
				return fmt.Errorf("%s: %w", credential, err)
			}
		}
		return nil
	})
	first := &cmapi.Certificate{}
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: certs.CredentialName("ha", created[0], "https")}, first))
	t.Logf("leader killed; the first Gateway created after it got its Certificate %s later; %d Gateways admitted in between, none refused",
		first.CreationTimestamp.Sub(killed).Round(time.Second), len(created))
	ok, err = isLeader(ctx, follower)
	require.NoError(t, err)
	assert.True(t, ok, "replica b leads now")
}

// TestAPIServerRestarted: kube-apiserver restarts under a running meshcert
// (leader election on, as deployed). A restart shorter than the Lease's
// renew deadline (10 s) is ridden out in-process; a longer one makes the
// leader exit rather than risk two leaders, as every controller-runtime
// manager does, and the kubelet starts it again. The test plays the
// kubelet: it restarts meshcert when it exits. No crash loop: at most one
// exit, and afterwards a new Gateway is admitted through the webhooks and
// gets its Certificate.
func TestAPIServerRestarted(t *testing.T) {
	cp := framework.Start(t, framework.WithoutCertManager())
	m := startMeshcert(t, cp, framework.MeshcertConfig{LeaderElect: true})
	ctx := t.Context()
	require.NoError(t, cp.Client.Create(ctx, tenantNamespace("restart")))
	require.NoError(t, cp.Client.Create(ctx, burstGateway("restart", "before", "before.restart.example.com")))
	ready := func(name string) {
		credential := certs.CredentialName("restart", name, "https")
		eventually(t, "Certificate "+credential, func(ctx context.Context) error {
			return cp.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: credential}, &cmapi.Certificate{})
		})
	}
	ready("before")

	start := time.Now()
	require.NoError(t, cp.RestartAPIServer(ctx))
	t.Logf("kube-apiserver back in %s", time.Since(start).Round(time.Millisecond))

	exits := 0
	eventually(t, "a Gateway admitted after the restart", func(ctx context.Context) error {
		if exited, why := m.Exited(); exited {
			exits++
			t.Logf("meshcert exited (%v); restarting it as the kubelet would", why)
			if err := m.Restart(ctx); err != nil {
				return err
			}
		}
		return client.IgnoreAlreadyExists(cp.Client.Create(ctx, burstGateway("restart", "after", "after.restart.example.com")))
	})
	ready("after")
	exited, why := m.Exited()
	assert.False(t, exited, "meshcert keeps running once the API server is back: %v", why)
	assert.LessOrEqual(t, exits, 1, "no crash loop")
	// Readiness waits for every cache, which may sync moments after the
	// first Certificate is written.
	eventually(t, "meshcert ready", func(ctx context.Context) error {
		if !httpGetOK(ctx, m.ProbeURL+"/readyz") {
			return errors.New("/readyz fails")
		}
		return nil
	})
	t.Logf("converged %s after the restart began, with %d exit(s) of meshcert", time.Since(start).Round(time.Millisecond), exits)
}

func httpGetOK(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
