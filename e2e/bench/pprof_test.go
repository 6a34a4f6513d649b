package bench

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
)

func TestProfilesAreSavedFromWhereGoServesThem(t *testing.T) {
	var asked []string
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.RequestURI())
		if r.URL.Path == "/debug/pprof/missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("profile of " + r.URL.RequestURI()))
	}))
	defer server.Close()
	dir := t.TempDir()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return string(b)
	}

	// The API server's, through a client built from a rest.Config as the
	// bench's kubeconfig gives it (here trusting the test server).
	cfg := &rest.Config{Host: server.URL + "/", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	require.NoError(t, SaveAPIServerCPUProfile(t.Context(), cfg, 2500*time.Millisecond, filepath.Join(dir, "apiserver.pprof")))
	assert.Equal(t, "profile of /debug/pprof/profile?seconds=2", read("apiserver.pprof"))

	client := server.Client()
	require.NoError(t, saveProfileWith(t.Context(), client, server.URL+"/debug/pprof/heap?debug=1", filepath.Join(dir, "memstats.txt")))
	assert.Equal(t, "profile of /debug/pprof/heap?debug=1", read("memstats.txt"))

	err := saveProfileWith(t.Context(), client, server.URL+"/debug/pprof/missing", filepath.Join(dir, "missing"))
	require.ErrorContains(t, err, "404")
	assert.NoFileExists(t, filepath.Join(dir, "missing"), "nothing is written for a failed profile")
	assert.Len(t, asked, 3)

	assert.Equal(t, "1", seconds(100*time.Millisecond), "pprof needs at least a second")
}
