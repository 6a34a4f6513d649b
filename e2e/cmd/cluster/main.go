// Command cluster runs one local control plane until SIGTERM or SIGINT, for
// `make cluster-up` / `make cluster-down` and exploring with kubectl.
//
// In --dir it writes pid (its own process id), kubeconfig (admin), the
// component logs under logs/, and ready once everything answers; the
// Makefile waits for ready. Later issues add meshcert itself here.
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
	extraControllers := flag.String("cert-manager-controllers", "",
		"Comma-separated cert-manager controllers to add to the default set, e.g. "+framework.GatewayShimController+".")
	flag.Parse()
	if *dir == "" {
		log.Fatal("--dir is required")
	}
	cfg := framework.Config{
		Dir:                      filepath.Join(*dir, "logs"),
		WithoutControllerManager: *withoutControllerManager,
		WithoutCertManager:       *withoutCertManager,
		Logf:                     log.Printf,
	}
	if *extraControllers != "" {
		cfg.ExtraCertManagerControllers = strings.Split(*extraControllers, ",")
	}
	if err := run(*dir, cfg); err != nil {
		log.Fatal(err)
	}
}

func run(dir string, cfg framework.Config) error {
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
	if err := publish(dir, cp); err != nil {
		return errors.Join(err, cp.Stop())
	}
	log.Printf("cluster ready in %s: export KUBECONFIG=%s", cp.StartDuration.Round(time.Millisecond), filepath.Join(dir, "kubeconfig"))
	if memory, err := cp.Memory(); err == nil {
		log.Printf("resident memory after start: %s", formatMemory(memory))
	}

	<-ctx.Done()
	log.Print("stopping")
	if err := cp.Stop(); err != nil {
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
func publish(dir string, cp *framework.ControlPlane) error {
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
