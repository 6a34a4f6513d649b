package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// SaveHeapProfile saves the live heap of the Go pprof server at baseURL
// into path (after a garbage collection, as ?gc=1 asks).
func SaveHeapProfile(ctx context.Context, baseURL, path string) error {
	return saveProfile(ctx, baseURL+"/debug/pprof/heap?gc=1", path)
}

// SaveCPUProfile takes a CPU profile of d from the Go pprof server at
// baseURL (e.g. meshcert serve --pprof-bind-address) into path.
func SaveCPUProfile(ctx context.Context, baseURL string, d time.Duration, path string) error {
	seconds := max(1, int(d.Seconds()))
	return saveProfile(ctx, baseURL+"/debug/pprof/profile?seconds="+strconv.Itoa(seconds), path)
}

// saveProfile saves what url answers into path.
func saveProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return fmt.Errorf("failed to build the profile request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
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
