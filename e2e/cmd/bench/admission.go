package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/e2e/bench"
	"github.com/meshcert/meshcert/e2e/framework"
)

// benchIssuer is the self-signed ClusterIssuer every scenario's Gateways name.
const benchIssuer = "bench-ca"

// startPlane starts a control plane in the runner's directory under name.
func (r *runner) startPlane(ctx context.Context, name string, cfg framework.Config) (*framework.ControlPlane, error) {
	cfg.Dir = filepath.Join(r.dir, name)
	cfg.Logf = log.Printf
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cp, err := framework.StartContext(startCtx, cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to start the %s plane: %w", name, err)
	}
	return cp, nil
}

// createIssuer creates the self-signed ClusterIssuer and, when cert-manager
// runs, waits until it is Ready.
func createIssuer(ctx context.Context, cp *framework.ControlPlane, waitReady bool) error {
	issuer := &cmapi.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: benchIssuer},
		Spec:       cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}},
	}
	if err := cp.Client.Create(ctx, issuer); err != nil {
		return fmt.Errorf("failed to create ClusterIssuer %s: %w", benchIssuer, err)
	}
	if !waitReady {
		return nil
	}
	return waitFor(ctx, time.Minute, "ClusterIssuer "+benchIssuer+" Ready", func(ctx context.Context) (bool, error) {
		var got cmapi.ClusterIssuer
		if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(issuer), &got); err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == cmapi.IssuerConditionReady && c.Status == cmmeta.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

// waitFor polls check every 100 ms until it holds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, check func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := check(ctx)
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("failed waiting for %s: %w", what, errors.Join(err, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *runner) admission(ctx context.Context) error {
	cp, err := r.startPlane(ctx, "admission", framework.Config{})
	if err != nil {
		return err
	}
	defer func() { _ = cp.Stop() }()
	if err := createIssuer(ctx, cp, true); err != nil {
		return err
	}
	if err := bench.CreatePolicyNamespace(ctx, cp, "bench", benchIssuer); err != nil {
		return err
	}
	// Webhooks not registered: the load goes straight to the servers.
	pprofPort, err := freePort()
	if err != nil {
		return err
	}
	m, err := cp.StartMeshcert(ctx, framework.MeshcertConfig{
		WithoutWebhookConfigurations: true,
		Args:                         []string{"--pprof-bind-address=127.0.0.1:" + strconv.Itoa(pprofPort)},
	})
	if err != nil {
		return err
	}
	defer func() { _ = m.Stop() }()
	noopURL, noopPID, stopNoop, err := r.startNoop(ctx, filepath.Join(m.Dir, "serving-certs"), m.CABundle)
	if err != nil {
		return err
	}
	defer stopNoop()

	cfg := bench.AdmissionConfig{
		Sizes: r.sizes.admissionServers, Rate: r.sizes.admissionRate, Connections: r.sizes.admissionConnections,
		Duration: r.sizes.admissionPhase, Warmup: time.Second, Rounds: r.sizes.admissionRounds,
	}
	report, err := bench.RunAdmission(ctx, cfg, bench.AdmissionServers{
		MeshcertURL: m.WebhookURL, NoopURL: noopURL, CA: m.CABundle, Namespace: "bench", Issuer: benchIssuer,
		APIRequests: func(ctx context.Context) (float64, error) {
			metrics, err := m.Metrics(ctx)
			return framework.MetricValue(metrics, "rest_client_requests_total"), err
		},
		PIDs: map[string]int{bench.TargetMeshcert: m.PID(), bench.TargetNoop: noopPID},
		Profile: func(ctx context.Context, name string, d time.Duration) error {
			return bench.SaveCPUProfile(ctx, "http://127.0.0.1:"+strconv.Itoa(pprofPort), d, filepath.Join(r.dir, name))
		},
	}, log.Printf)
	if err != nil {
		return err
	}
	r.reportAdmission(cfg, report)
	return nil
}

func (r *runner) reportAdmission(cfg bench.AdmissionConfig, report bench.AdmissionReport) {
	var rows [][]string
	worst := math.Inf(1)
	for _, size := range cfg.Sizes {
		for _, rate := range []float64{cfg.Rate, 0} {
			mc, _ := report.Row(size, rate, bench.TargetMeshcert)
			noop, _ := report.Row(size, rate, bench.TargetNoop)
			for _, row := range []bench.AdmissionRow{mc, noop} {
				lat := row.Result.Latencies
				rows = append(rows, []string{
					strconv.Itoa(size), rateLabel(rate), row.Target,
					fmt.Sprintf("%.0f", row.Result.Throughput()),
					msDuration(bench.Quantile(lat, 0.5)), msDuration(bench.Quantile(lat, 0.99)), msDuration(bench.Quantile(lat, 0.999)),
					strconv.Itoa(row.Result.Errors), cpuPerRequest(row),
				})
			}
			if rate == 0 {
				ratio := mc.Result.Throughput() / noop.Result.Throughput()
				worst = min(worst, ratio)
				r.summary.linef("admission saturation, %d-server Gateways: meshcert %.0f req/s, noop %.0f req/s (ratio %.2f); server CPU per request %s and %s",
					size, mc.Result.Throughput(), noop.Result.Throughput(), ratio, cpuPerRequest(mc), cpuPerRequest(noop))
			} else {
				r.summary.linef("admission p99 at %.0f req/s, %d-server Gateways: meshcert %s, noop %s (target <= 5 ms)",
					rate, size, msDuration(bench.Quantile(mc.Result.Latencies, 0.99)), msDuration(bench.Quantile(noop.Result.Latencies, 0.99)))
			}
		}
	}
	r.summary.table(fmt.Sprintf("Admission over HTTPS (%d keep-alive connections, %s phases, %d rounds each, alternating)",
		cfg.Connections, cfg.Duration, cfg.Rounds),
		[]string{"servers", "load", "server", "req/s", "p50", "p99", "p99.9", "errors", "server CPU per request"}, rows)
	perAdmission := 0.0
	if report.Admissions > 0 {
		perAdmission = report.APIRequests / report.Admissions
	}
	r.summary.linef("API requests per admission: %.4f (%.0f requests over %.0f admissions)", perAdmission, report.APIRequests, report.Admissions)
	r.summary.linef("admission throughput ratio meshcert/noop: %.2f", worst)
}

// cpuPerRequest is the server's CPU time per answered request.
func cpuPerRequest(row bench.AdmissionRow) string {
	if row.Result.Requests == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f µs", float64(row.ServerCPU.Microseconds())/float64(row.Result.Requests))
}

func rateLabel(rate float64) string {
	if rate == 0 {
		return "saturation"
	}
	return fmt.Sprintf("%.0f req/s", rate)
}

func msDuration(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// startNoop starts `bench noop-webhook` with meshcert's serving certificate
// on a free port and waits until it answers TLS.
func (r *runner) startNoop(ctx context.Context, certDir string, caPEM []byte) (string, int, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", 0, nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return "", 0, nil, fmt.Errorf("failed to find the bench binary: %w", err)
	}
	logFile, err := os.Create(filepath.Join(r.dir, "noop-webhook.log"))
	if err != nil {
		return "", 0, nil, fmt.Errorf("failed to create the no-op server's log: %w", err)
	}
	cmd := exec.Command(self, "noop-webhook", "--port="+strconv.Itoa(port), "--cert-dir="+certDir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return "", 0, nil, fmt.Errorf("failed to start the no-op webhook server: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		_ = logFile.Close()
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	err = waitFor(ctx, 30*time.Second, "the no-op webhook server", func(ctx context.Context) (bool, error) {
		conn, err := (&tls.Dialer{Config: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return false, err
		}
		return true, conn.Close()
	})
	if err != nil {
		stop()
		return "", 0, nil, err
	}
	return "https://" + addr, cmd.Process.Pid, stop, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("failed to find a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// runNoop is `bench noop-webhook`: the no-op server until SIGTERM.
func runNoop(args []string) error {
	fs := flag.NewFlagSet("noop-webhook", flag.ContinueOnError)
	port := fs.Int("port", 0, "port to serve on, on 127.0.0.1")
	certDir := fs.String("cert-dir", "", "directory with tls.crt and tls.key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return bench.ServeNoop(ctx, "127.0.0.1", *port, *certDir)
}
