package e2e

import (
	"archive/tar"
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestImage opens the image tarball `make image` writes (MESHCERT_IMAGE_TAR)
// and checks what a cluster runs: a scratch image with one layer, the
// entrypoint, a non-root user, the binary inside running `version`, and
// the Dockerfile saying the same.
func TestImage(t *testing.T) {
	path := os.Getenv("MESHCERT_IMAGE_TAR")
	require.NotEmpty(t, path, "MESHCERT_IMAGE_TAR is not set: run the tests with make e2e, which builds the image first (make image)")
	img, err := tarball.ImageFromPath(path, nil)
	require.NoError(t, err)

	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, []string{"/meshcert"}, cfg.Config.Entrypoint)
	assert.Equal(t, []string{"serve"}, cfg.Config.Cmd)
	assert.Equal(t, "65532:65532", cfg.Config.User, "non-root, the uid the chart's securityContext names")
	assert.Equal(t, "linux", cfg.OS)
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1, "a scratch base: meshcert's layer only")
	compressed, err := layers[0].Size()
	require.NoError(t, err)

	files := map[string]*tar.Header{}
	var binary, passwd []byte
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		files[hdr.Name] = hdr
		switch hdr.Name {
		case "meshcert":
			binary, err = io.ReadAll(tr)
			require.NoError(t, err)
		case "etc/passwd":
			passwd, err = io.ReadAll(tr)
			require.NoError(t, err)
		}
	}
	require.NotNil(t, binary, "the image holds /meshcert: %v", files)
	assert.EqualValues(t, 0o755, files["meshcert"].Mode&0o777)
	assert.Contains(t, string(passwd), "nonroot:x:65532:65532:", "the user has a name")
	t.Logf("image %s: compressed layer %.1f MiB, binary %.1f MiB, %d files", path,
		float64(compressed)/(1<<20), float64(len(binary))/(1<<20), len(files))

	if runtime.GOOS == "linux" && cfg.Architecture == runtime.GOARCH {
		exe := filepath.Join(t.TempDir(), "meshcert")
		require.NoError(t, os.WriteFile(exe, binary, 0o755))
		out, err := exec.CommandContext(t.Context(), exe, "version").CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Contains(t, string(out), "meshcert", "the static binary runs on its own, as in a scratch image")
		assert.NotContains(t, string(out), "not a dynamic executable")
	} else {
		t.Errorf("cannot run the %s binary of the image on %s/%s; build it with IMAGE_ARCH=%s", cfg.Architecture, runtime.GOOS, runtime.GOARCH, runtime.GOARCH)
	}

	// The Dockerfile builds the same image: scratch, the same user,
	// entrypoint and command.
	dockerfile, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	require.NoError(t, err)
	defer dockerfile.Close()
	var final []string
	sc := bufio.NewScanner(dockerfile)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "FROM ") {
			final = nil
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			final = append(final, line)
		}
	}
	require.NoError(t, sc.Err())
	assert.Equal(t, []string{
		"FROM scratch",
		"COPY --from=build /rootfs/ /",
		"USER " + cfg.Config.User,
		"WORKDIR " + cfg.Config.WorkingDir,
		`ENTRYPOINT ["` + cfg.Config.Entrypoint[0] + `"]`,
		`CMD ["` + cfg.Config.Cmd[0] + `"]`,
	}, final, "the Dockerfile's final stage says what the image says")
}
