package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// SaveAPIServerCPUProfile takes a CPU profile of d from the API server that
// cfg reaches (its /debug/pprof, which needs cluster-admin) into path.
func SaveAPIServerCPUProfile(ctx context.Context, cfg *rest.Config, d time.Duration, path string) error {
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return fmt.Errorf("failed to build an API server client: %w", err)
	}
	return saveProfileWith(ctx, client, strings.TrimSuffix(cfg.Host, "/")+"/debug/pprof/profile?seconds="+seconds(d), path)
}

// SaveHeapProfile saves the live heap of the Go pprof server at baseURL
// into path (after a garbage collection, as ?gc=1 asks).
func SaveHeapProfile(ctx context.Context, baseURL, path string) error {
	return saveProfile(ctx, baseURL+"/debug/pprof/heap?gc=1", path)
}

// SaveMemStats saves the Go runtime's memory statistics of the pprof server
// at baseURL (the end of its heap profile in text form) into path: how much
// of the process's memory is live heap, heap held for growth, and memory
// already returned to the operating system.
func SaveMemStats(ctx context.Context, baseURL, path string) error {
	return saveProfile(ctx, baseURL+"/debug/pprof/heap?debug=1", path)
}

// SaveCPUProfile takes a CPU profile of d from the Go pprof server at
// baseURL (e.g. meshcert serve --pprof-bind-address) into path.
func SaveCPUProfile(ctx context.Context, baseURL string, d time.Duration, path string) error {
	return saveProfile(ctx, baseURL+"/debug/pprof/profile?seconds="+seconds(d), path)
}

// seconds is d in whole seconds, at least one, as pprof's query wants it.
func seconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(d.Seconds())))
}

// saveProfile saves what url answers into path.
func saveProfile(ctx context.Context, url, path string) error {
	return saveProfileWith(ctx, http.DefaultClient, url, path)
}

// saveProfileWith saves what url answers client into path.
func saveProfileWith(ctx context.Context, client *http.Client, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return fmt.Errorf("failed to build the profile request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("failed to take a profile: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("failed to take a profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("failed to create %s: %w", path, err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}
