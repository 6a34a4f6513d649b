package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/meshcert/meshcert/internal/parallel"
)

// extensions are the files picked up when a directory is given, the same
// set kubectl uses.
var extensions = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// Read decodes the objects in paths, in order. A path is a file (read
// whatever its extension), a directory (walked recursively in lexical order,
// reading only .yaml, .yml and .json files) or "-" for stdin. Index numbers
// objects across all inputs. A Helm chart (a directory holding Chart.yaml)
// inside a walked directory is skipped: its files are templates, not
// manifests; given itself, it is an error saying to render it.
func Read(paths []string, stdin io.Reader) ([]*Object, error) {
	sources, err := listSources(paths, stdin)
	decodeSources(sources)
	var objs []*Object
	for _, src := range sources {
		if src.err != nil {
			return nil, src.err
		}
		for _, o := range src.objs {
			o.Index = len(objs)
			objs = append(objs, o)
		}
	}
	// An error listing a later path comes after every source listed before it.
	if err != nil {
		return nil, err
	}
	return objs, nil
}

// input is one file to decode, or stdin's contents, and what decoding it
// gave.
type input struct {
	file string
	// data is stdin's contents; files are read when decoded.
	data  []byte
	stdin bool
	objs  []*Object
	err   error
}

// listSources lists the files and stdin inputs of paths, in order. It
// stops at the first path that cannot be listed (or stdin read), returning
// the sources before it and that error.
func listSources(paths []string, stdin io.Reader) ([]*input, error) {
	var sources []*input
	for _, path := range paths {
		if path == "-" {
			if stdin == nil {
				return sources, fmt.Errorf("failed to read %s: no stdin available", StdinName)
			}
			data, err := io.ReadAll(stdin)
			if err != nil {
				return sources, fmt.Errorf("failed to read %s: %w", StdinName, err)
			}
			sources = append(sources, &input{file: StdinName, data: data, stdin: true})
			continue
		}
		files, err := expand(path)
		if err != nil {
			return sources, err
		}
		for _, file := range files {
			sources = append(sources, &input{file: file})
		}
	}
	return sources, nil
}

// decodeSources reads and decodes the sources on every CPU: decoding is
// most of what a large input costs. Once a source fails, later ones are
// skipped, since Read reports only the first error.
func decodeSources(sources []*input) {
	var failed atomic.Int64
	failed.Store(math.MaxInt64)
	parallel.ForEach(len(sources), 1, func(i int) {
		if int64(i) > failed.Load() {
			return
		}
		src := sources[i]
		src.decode()
		for src.err != nil {
			prev := failed.Load()
			if int64(i) >= prev || failed.CompareAndSwap(prev, int64(i)) {
				break
			}
		}
	})
}

func (src *input) decode() {
	data := src.data
	if !src.stdin {
		var err error
		if data, err = os.ReadFile(src.file); err != nil {
			src.err = fmt.Errorf("failed to read %s: %w", src.file, unwrapPath(err))
			return
		}
	}
	src.objs, src.err = Decode(src.file, data)
}

// expand lists the files path stands for.
func expand(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", path, unwrapPath(err))
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	if isChart(path) {
		return nil, fmt.Errorf("failed to read %s: it is a Helm chart, whose templates are not manifests; render it and read the result: helm template NAME %s | meshcert check -f -", path, path)
	}
	var files []string
	// WalkDir visits entries in lexical order, which keeps output stable.
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("failed to read %s: %w", p, unwrapPath(err))
		}
		if d.IsDir() && p != path && isChart(p) {
			return fs.SkipDir
		}
		if d.IsDir() || !extensions[filepath.Ext(p)] {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// Symlinked files count; symlinked directories are not followed,
			// which also rules out cycles.
			target, err := os.Stat(p)
			if err != nil {
				return fmt.Errorf("failed to read %s: %w", p, unwrapPath(err))
			}
			if target.IsDir() {
				return nil
			}
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// isChart reports whether dir is a Helm chart.
func isChart(dir string) bool {
	info, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
	return err == nil && !info.IsDir()
}

// unwrapPath drops the *fs.PathError layer, whose message repeats the path
// the caller already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
