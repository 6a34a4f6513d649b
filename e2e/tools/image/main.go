// Command build-image writes meshcert's container image as a tarball
// without a container engine: a scratch image holding the static meshcert
// binary and the passwd and group entries of its non-root user, with OCI
// media types, in the `docker save` layout that `docker load`, `podman
// load` and `crane push` read. `make image` runs it.
//
//	build-image -binary bin/linux_amd64/meshcert -tag ghcr.io/meshcert/meshcert:v0.1.0 -out bin/meshcert-image.tar
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user: distroless' "nonroot", which the chart's
// securityContext names too.
const (
	uid  = 65532
	user = "65532:65532"
)

// epoch makes the image reproducible: the same binary gives the same digest.
var epoch = time.Unix(0, 0).UTC()

func main() {
	binary := flag.String("binary", "", "static linux meshcert binary to put into the image")
	tag := flag.String("tag", "", "image reference recorded in the tarball, e.g. ghcr.io/meshcert/meshcert:v0.1.0")
	out := flag.String("out", "", "tarball to write")
	arch := flag.String("arch", "amd64", "architecture of the binary")
	version := flag.String("version", "", "version label")
	flag.Parse()
	if err := run(*binary, *tag, *out, *arch, *version); err != nil {
		fmt.Fprintln(os.Stderr, "build-image:", err)
		os.Exit(1)
	}
}

func run(binaryPath, tag, out, arch, version string) error {
	if binaryPath == "" || tag == "" || out == "" {
		return errors.New("-binary, -tag and -out are required")
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("failed to parse -tag: %w", err)
	}
	binary, err := os.ReadFile(binaryPath)
	if err != nil {
		return fmt.Errorf("failed to read the binary: %w", err)
	}
	layerTar, err := rootFS(binary)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return fmt.Errorf("failed to build the layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "build-image: meshcert", Created: v1.Time{Time: epoch}}})
	if err != nil {
		return fmt.Errorf("failed to add the layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("failed to read the config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: epoch}
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.Config.Entrypoint = []string{"/meshcert"}
	cfg.Config.Cmd = []string{"serve"}
	cfg.Config.User = user
	cfg.Config.WorkingDir = "/"
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":    "meshcert",
		"org.opencontainers.image.source":   "https://github.com/meshcert/meshcert",
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return fmt.Errorf("failed to set the config: %w", err)
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return fmt.Errorf("failed to write %s: %w", out, err)
	}
	return os.Rename(tmp, out)
}

// rootFS is the image's only layer: the binary, and the user and group
// entries that name uid 65532, so tools that resolve names show "nonroot".
func rootFS(binary []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/passwd", 0o644, []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", uid, uid))},
		{"etc/group", 0o644, []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", uid))},
		{"meshcert", 0o755, binary},
	}
	for _, dir := range []string{"etc/", "home/", "home/nonroot/", "tmp/"} {
		mode := int64(0o755)
		if dir == "tmp/" {
			mode = 0o1777
		}
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: mode, ModTime: epoch}
		if dir == "home/nonroot/" {
			hdr.Uid, hdr.Gid = uid, uid
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("failed to write %s: %w", dir, err)
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch}); err != nil {
			return nil, fmt.Errorf("failed to write %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("failed to write %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("failed to close the layer: %w", err)
	}
	return buf.Bytes(), nil
}
