package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// secretVolume keeps a directory in step with a Secret as kubelet keeps a
// secret volume (pkg/volume/util AtomicWriter): each key is a symbolic link
// to ..data/<key>, and ..data links to a timestamped directory that is
// replaced whole by renaming a new link over it, so a reader never sees
// half an update and a watcher of the directory sees a Create.
type secretVolume struct {
	client  client.Client
	key     client.ObjectKey
	dir     string
	version string
}

// syncPeriod is how soon a change of the Secret reaches the directory;
// kubelet takes up to a minute, which tests need not wait.
const syncPeriod = 200 * time.Millisecond

// sync writes the Secret as it is now; it must exist.
func (v *secretVolume) sync(ctx context.Context) error {
	secret := &corev1.Secret{}
	if err := v.client.Get(ctx, v.key, secret); err != nil {
		return fmt.Errorf("failed to get Secret %s to mount: %w", v.key, err)
	}
	if secret.ResourceVersion == v.version {
		return nil
	}
	if err := v.write(secret.Data); err != nil {
		return err
	}
	v.version = secret.ResourceVersion
	return nil
}

// follow syncs until stopped or ctx ends; a failed sync is retried.
func (v *secretVolume) follow(ctx context.Context, stopped <-chan struct{}) {
	ticker := time.NewTicker(syncPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stopped:
			return
		case <-ticker.C:
			_ = v.sync(ctx)
		}
	}
}

func (v *secretVolume) write(data map[string][]byte) error {
	payload := filepath.Join(v.dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05.000000000"))
	if err := os.MkdirAll(payload, 0o700); err != nil {
		return fmt.Errorf("failed to create %s: %w", payload, err)
	}
	for key, value := range data {
		if err := os.WriteFile(filepath.Join(payload, key), value, 0o600); err != nil {
			return fmt.Errorf("failed to write %s: %w", key, err)
		}
	}
	dataLink, tmpLink := filepath.Join(v.dir, "..data"), filepath.Join(v.dir, "..data_tmp")
	old, _ := os.Readlink(dataLink)
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(payload), tmpLink); err != nil {
		return fmt.Errorf("failed to link %s: %w", tmpLink, err)
	}
	if err := os.Rename(tmpLink, dataLink); err != nil {
		return fmt.Errorf("failed to swap %s: %w", dataLink, err)
	}
	for key := range data {
		link := filepath.Join(v.dir, key)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", key), link); err != nil {
			return fmt.Errorf("failed to link %s: %w", link, err)
		}
	}
	// Keys the Secret no longer has go, as kubelet removes them.
	entries, err := os.ReadDir(v.dir)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", v.dir, err)
	}
	for _, e := range entries {
		if _, kept := data[e.Name()]; kept || e.Type()&os.ModeSymlink == 0 {
			continue
		}
		if target, _ := os.Readlink(filepath.Join(v.dir, e.Name())); target == filepath.Join("..data", e.Name()) {
			_ = os.Remove(filepath.Join(v.dir, e.Name()))
		}
	}
	if old != "" {
		_ = os.RemoveAll(filepath.Join(v.dir, old))
	}
	return nil
}
