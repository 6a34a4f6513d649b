package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	var objs []*Object
	add := func(file string, data []byte) error {
		decoded, err := Decode(file, data)
		if err != nil {
			return err
		}
		for _, o := range decoded {
			o.Index = len(objs)
			objs = append(objs, o)
		}
		return nil
	}
	for _, path := range paths {
		if path == "-" {
			if stdin == nil {
				return nil, fmt.Errorf("failed to read %s: no stdin available", StdinName)
			}
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("failed to read %s: %w", StdinName, err)
			}
			if err := add(StdinName, data); err != nil {
				return nil, err
			}
			continue
		}
		files, err := expand(path)
		if err != nil {
			return nil, err
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("failed to read %s: %w", file, unwrapPath(err))
			}
			if err := add(file, data); err != nil {
				return nil, err
			}
		}
	}
	return objs, nil
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
