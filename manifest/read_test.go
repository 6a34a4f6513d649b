package manifest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func configMap(name string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	}
}

// source is what the Read tests compare about each object.
type source struct {
	Name  string
	File  string
	Line  int
	Index int
}

func sources(objs []*Object, dir string) []source {
	var out []source
	for _, o := range objs {
		out = append(out, source{Name: o.Object.GetName(), File: strings.TrimPrefix(o.File, dir+string(filepath.Separator)), Line: o.Line, Index: o.Index})
	}
	return out
}

func TestRead(t *testing.T) {
	files := map[string]string{
		"b.yaml":            configMap("b"),
		"a.yml":             configMap("a1") + "---\n" + configMap("a2"),
		"c.json":            `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}`,
		"notes.txt":         "not a manifest: [",
		"manifest.txt":      configMap("t"),
		"README.md":         "# docs",
		"nested/z.yaml":     configMap("nested-z"),
		"nested/deep/y.yml": configMap("deep-y"),
		// A Helm chart: its templates are no manifests.
		"chart/Chart.yaml":       "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
		"chart/values.yaml":      "host: web.example.com\n",
		"chart/templates/x.yaml": "metadata: {name: {{ .Values.host }}}\n",
		"a.yaml.bak":             "broken: [",
		"upper.YAML":             "broken: [",
	}
	tests := map[string]struct {
		paths []string
		stdin string
		want  []source
	}{
		"a single file keeps the path as given": {
			paths: []string{"b.yaml"},
			want:  []source{{Name: "b", File: "b.yaml", Line: 1}},
		},
		"a file is read whatever its extension": {
			paths: []string{"manifest.txt"},
			want:  []source{{Name: "t", File: "manifest.txt", Line: 1}},
		},
		"a directory is read recursively in lexical order with only manifest extensions, Helm charts skipped": {
			paths: []string{"."},
			want: []source{
				{Name: "a1", File: "a.yml", Line: 1, Index: 0},
				{Name: "a2", File: "a.yml", Line: 6, Index: 1},
				{Name: "b", File: "b.yaml", Line: 1, Index: 2},
				{Name: "c", File: "c.json", Line: 1, Index: 3},
				{Name: "deep-y", File: "nested/deep/y.yml", Line: 1, Index: 4},
				{Name: "nested-z", File: "nested/z.yaml", Line: 1, Index: 5},
			},
		},
		"stdin is read for - and named <stdin>": {
			paths: []string{"-"},
			stdin: "---\n" + configMap("from-stdin"),
			want:  []source{{Name: "from-stdin", File: "<stdin>", Line: 2}},
		},
		"several inputs are numbered across files in argument order": {
			paths: []string{"c.json", "-", "b.yaml"},
			stdin: configMap("s"),
			want: []source{
				{Name: "c", File: "c.json", Line: 1, Index: 0},
				{Name: "s", File: "<stdin>", Line: 1, Index: 1},
				{Name: "b", File: "b.yaml", Line: 1, Index: 2},
			},
		},
		"no paths means no objects": {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, files)
			t.Chdir(dir)
			objs, err := Read(tc.paths, strings.NewReader(tc.stdin))
			require.NoError(t, err)
			require.Equal(t, tc.want, sources(objs, dir))
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := map[string]struct {
		files map[string]string
		paths []string
		stdin bool
		want  string
		is    error
	}{
		"a missing path is named": {
			paths: []string{"missing.yaml"},
			want:  "failed to read missing.yaml: no such file or directory",
			is:    fs.ErrNotExist,
		},
		"a decode error names the file inside a directory": {
			files: map[string]string{"dir/ok.yaml": configMap("ok"), "dir/sub/bad.yaml": configMap("x") + "---\nkind: [\n"},
			paths: []string{"dir"},
			want:  "failed to decode " + filepath.Join("dir", "sub", "bad.yaml") + ":6: ",
		},
		"a decode error on stdin names <stdin>": {
			paths: []string{"-"},
			stdin: true,
			want:  "failed to decode <stdin>:1: object has no kind",
		},
		"a Helm chart given itself is an error saying to render it": {
			files: map[string]string{"chart/Chart.yaml": "apiVersion: v2\nname: chart\nversion: 0.1.0\n", "chart/templates/x.yaml": "{{ .Values }}"},
			paths: []string{"chart"},
			want:  "failed to read chart: it is a Helm chart, whose templates are not manifests; render it and read the result: helm template NAME chart | meshcert check -f -",
		},
		"stdin without a reader is an error": {
			paths: []string{"-"},
			want:  "failed to read <stdin>: no stdin available",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			writeFiles(t, ".", tc.files)
			var objs []*Object
			var err error
			if tc.stdin {
				objs, err = Read(tc.paths, strings.NewReader("apiVersion: v1\n"))
			} else {
				objs, err = Read(tc.paths, nil)
			}
			require.ErrorContains(t, err, tc.want)
			require.Nil(t, objs)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
		})
	}
}

func TestReadUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can read files without permission")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.yaml")
	require.NoError(t, os.WriteFile(path, []byte(configMap("x")), 0o000))
	_, err := Read([]string{dir}, nil)
	require.ErrorContains(t, err, "failed to read "+path)
	require.ErrorIs(t, err, fs.ErrPermission)
}

func TestReadSymlinks(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"real/a.yaml": configMap("a"), "other/b.yaml": configMap("b")})
	require.NoError(t, os.Symlink(filepath.Join(dir, "real", "a.yaml"), filepath.Join(dir, "other", "link.yaml")))
	// A symlinked directory is not followed; this one would loop forever.
	require.NoError(t, os.Symlink(dir, filepath.Join(dir, "other", "loop.yaml")))
	objs, err := Read([]string{filepath.Join(dir, "other")}, nil)
	require.NoError(t, err)
	require.Equal(t, []source{
		{Name: "b", File: filepath.Join("other", "b.yaml"), Line: 1, Index: 0},
		{Name: "a", File: filepath.Join("other", "link.yaml"), Line: 1, Index: 1},
	}, sources(objs, dir))
}
