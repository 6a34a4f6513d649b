package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

// ArtifactsEnv names the directory under which each test's control plane
// directories (logs, kubeconfigs) are kept; `make e2e` points it at
// e2e/_artifacts. Unset, they go under the system temporary directory.
const ArtifactsEnv = "MESHCERT_E2E_ARTIFACTS"

// startTimeout bounds a whole start, generous for a loaded 2-core machine.
const startTimeout = 3 * time.Minute

// Option adjusts the Config that Start uses.
type Option func(*Config)

// WithoutControllerManager starts no kube-controller-manager.
func WithoutControllerManager() Option {
	return func(c *Config) { c.WithoutControllerManager = true }
}

// WithoutCertManager starts no cert-manager controllers.
func WithoutCertManager() Option {
	return func(c *Config) { c.WithoutCertManager = true }
}

// WithCertManagerControllers adds cert-manager controllers to the default
// set, e.g. GatewayShimController.
func WithCertManagerControllers(names ...string) Option {
	return func(c *Config) { c.ExtraCertManagerControllers = append(c.ExtraCertManagerControllers, names...) }
}

// WithAPIServerArgs adds kube-apiserver flags.
func WithAPIServerArgs(args ...string) Option {
	return func(c *Config) { c.APIServerArgs = append(c.APIServerArgs, args...) }
}

// WithACME runs Pebble and the DNS server of ACMEZone, and cert-manager's
// ACME controllers (ControlPlane.ACME).
func WithACME() Option {
	return func(c *Config) { c.ACME = true }
}

// Start starts a control plane for t, in its own directory under the
// artifacts directory, and stops it when t finishes (also when t fails or
// panics). On failure every component's log tail is printed.
func Start(t testing.TB, opts ...Option) *ControlPlane {
	t.Helper()
	dir, err := planeDir(t.Name())
	if err != nil {
		t.Fatalf("failed to prepare the control plane directory: %v", err)
	}
	cfg := Config{Dir: dir, Logf: t.Logf}
	for _, opt := range opts {
		opt(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cp, err := StartContext(ctx, cfg)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control plane logs in %s%s", cp.Dir, cp.LogTails(80))
		}
		if err := cp.Stop(); err != nil {
			t.Errorf("failed to stop the control plane in %s: %v", cp.Dir, err)
		}
	})
	return cp
}

var (
	planeDirsMu sync.Mutex
	// planeDirsSeen: the first plane of a test in this process clears what
	// an earlier run of that test left.
	planeDirsSeen = map[string]int{}
	unsafePath    = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)
)

// planeDir returns a fresh directory for the next control plane of the named
// test: <artifacts>/<test>/plane-<n>.
func planeDir(testName string) (string, error) {
	root := os.Getenv(ArtifactsEnv)
	if root == "" {
		root = filepath.Join(os.TempDir(), "meshcert-e2e")
	}
	testDir := filepath.Join(root, unsafePath.ReplaceAllString(testName, "_"))
	planeDirsMu.Lock()
	defer planeDirsMu.Unlock()
	if _, seen := planeDirsSeen[testDir]; !seen {
		if err := os.RemoveAll(testDir); err != nil {
			return "", fmt.Errorf("failed to clear %s: %w", testDir, err)
		}
	}
	planeDirsSeen[testDir]++
	dir := filepath.Join(testDir, fmt.Sprintf("plane-%d", planeDirsSeen[testDir]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("failed to create %s: %w", dir, err)
	}
	return dir, nil
}

// PlaneDir exposes planeDir for callers, like TestMain, that start a
// control plane with StartContext outside any single test.
func PlaneDir(name string) (string, error) { return planeDir(name) }
