// Command cluster runs one local control plane until SIGTERM or SIGINT, for
// `make cluster-up` / `make cluster-down` and exploring with kubectl.
//
// In --dir it writes pid (its own process id), kubeconfig (admin), the
// component logs under logs/, and ready once everything answers; the
// Makefile waits for ready. Unless --without-meshcert, it also runs
// `meshcert serve` with its webhooks registered by URL (log in
// logs/meshcert/meshcert.log).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meshcert/meshcert/e2e/framework"
)

// startTimeout bounds the start; a cold page cache on a busy 2-core machine
// can take a while.
const startTimeout = 3 * time.Minute

func main() {
	dir := flag.String("dir", "", "Directory for the cluster's pid, kubeconfig and logs (required).")
	withoutControllerManager := flag.Bool("without-controller-manager", false, "Do not run kube-controller-manager.")
	withoutCertManager := flag.Bool("without-cert-manager", false, "Do not run the cert-manager controllers.")
	withoutMeshcert := flag.Bool("without-meshcert", false, "Do not run meshcert serve.")
	meshcertArgs := flag.String("meshcert-args", "", "Space-separated extra flags for meshcert serve, e.g. --enforce.")
	extraControllers := flag.String("cert-manager-controllers", "",
		"Comma-separated cert-manager controllers to add to the default set, e.g. "+framework.GatewayShimController+".")
	acme := flag.Bool("acme", false, "Also run Pebble (an ACME server) and a DNS server for "+framework.ACMEZone+", with cert-manager's ACME controllers; writes acme-issuers.yaml.")
	flag.Parse()
	if *dir == "" {
		log.Fatal("--dir is required")
	}
	cfg := framework.Config{
		Dir:                      filepath.Join(*dir, "logs"),
		WithoutControllerManager: *withoutControllerManager,
		WithoutCertManager:       *withoutCertManager,
		ACME:                     *acme,
		Logf:                     log.Printf,
	}
	if *extraControllers != "" {
		cfg.ExtraCertManagerControllers = strings.Split(*extraControllers, ",")
	}
	var meshcert *framework.MeshcertConfig
	if !*withoutMeshcert {
		meshcert = &framework.MeshcertConfig{LeaderElect: true, Args: strings.Fields(*meshcertArgs)}
	}
	if err := run(*dir, cfg, meshcert); err != nil {
		log.Fatal(err)
	}
}

func run(dir string, cfg framework.Config, meshcertCfg *framework.MeshcertConfig) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	pidPath := filepath.Join(dir, "pid")
	if err := os.WriteFile(pidPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return fmt.Errorf("failed to write %s: %w", pidPath, err)
	}

	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	cp, err := framework.StartContext(startCtx, cfg)
	cancel()
	if err != nil {
		return err
	}
	var meshcert *framework.Meshcert
	if meshcertCfg != nil {
		startCtx, cancel := context.WithTimeout(ctx, startTimeout)
		meshcert, err = cp.StartMeshcert(startCtx, *meshcertCfg)
		cancel()
		if err != nil {
			return errors.Join(err, cp.Stop())
		}
		log.Printf("meshcert serving webhooks at %s, metrics at %s", meshcert.WebhookURL, meshcert.MetricsURL)
	}
	stopAll := func() error {
		var err error
		if meshcert != nil {
			err = meshcert.Stop()
		}
		return errors.Join(err, cp.Stop())
	}
	if cp.ACME != nil {
		path := filepath.Join(dir, "acme-issuers.yaml")
		issuers := cp.ACME.DNS01ClusterIssuerYAML("pebble-dns") + "---\n" + cp.ACME.HTTP01ClusterIssuerYAML("pebble-http")
		if err := os.WriteFile(path, []byte(issuers), 0o600); err != nil {
			return errors.Join(fmt.Errorf("failed to write %s: %w", path, err), stopAll())
		}
		log.Printf("ACME directory %s, DNS server %s for %s; ClusterIssuers pebble-dns (DNS-01) and pebble-http (HTTP-01) in %s",
			cp.ACME.DirectoryURL, cp.ACME.DNS.Addr(), framework.ACMEZone, path)
	}
	if err := publish(dir, cp, meshcert); err != nil {
		return errors.Join(err, stopAll())
	}
	log.Printf("cluster ready in %s: export KUBECONFIG=%s", cp.StartDuration.Round(time.Millisecond), filepath.Join(dir, "kubeconfig"))
	if memory, err := cp.Memory(); err == nil {
		log.Printf("resident memory after start: %s", formatMemory(memory))
	}

	<-ctx.Done()
	log.Print("stopping")
	if err := stopAll(); err != nil {
		return fmt.Errorf("failed to stop the control plane: %w", err)
	}
	for _, name := range []string{"ready", "kubeconfig", "component-pids"} {
		_ = os.Remove(filepath.Join(dir, name))
	}
	log.Print("stopped")
	return nil
}

// publish puts the admin kubeconfig and component pids where the Makefile
// and users look, then the ready marker last.
func publish(dir string, cp *framework.ControlPlane, meshcert *framework.Meshcert) error {
	kubeconfig, err := os.ReadFile(cp.KubeconfigPath)
	if err != nil {
		return fmt.Errorf("failed to read the kubeconfig: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kubeconfig"), kubeconfig, 0o600); err != nil {
		return fmt.Errorf("failed to write the kubeconfig: %w", err)
	}
	pids, err := os.ReadFile(filepath.Join(cp.Dir, "component-pids"))
	if err != nil {
		return fmt.Errorf("failed to read the component pids: %w", err)
	}
	if meshcert != nil {
		// cluster-down checks that meshcert is gone too.
		pids = append(pids, []byte(strconv.Itoa(meshcert.PID())+"\n")...)
	}
	if err := os.WriteFile(filepath.Join(dir, "component-pids"), pids, 0o600); err != nil {
		return fmt.Errorf("failed to write the component pids: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o600); err != nil {
		return fmt.Errorf("failed to write the ready marker: %w", err)
	}
	return nil
}

func formatMemory(memory map[string]int64) string {
	var total int64
	var parts []string
	for name, bytes := range memory {
		total += bytes
		parts = append(parts, fmt.Sprintf("%s %d MiB", name, bytes>>20))
	}
	return fmt.Sprintf("%s; total %d MiB", strings.Join(parts, ", "), total>>20)
}
