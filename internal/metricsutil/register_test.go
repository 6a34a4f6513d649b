package metricsutil

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCollectorsAreBuiltFromDefinitions keeps docs/operating.md's metrics
// table, generated from Defined, whole: no product code outside this package
// builds a Prometheus collector itself.
func TestCollectorsAreBuiltFromDefinitions(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// e2e is its own module (the load tools); testdata holds inputs.
			if rel, _ := filepath.Rel(root, path); rel == "e2e" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == "." {
			return nil
		}
		if filepath.Base(filepath.Dir(path)) == "metricsutil" {
			// Where collectors are built.
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), "prometheus.New") {
			t.Errorf("%s builds a collector; declare it with metricsutil.Define and register it through metricsutil", path)
		}
		return nil
	})
	require.NoError(t, err)
}

func TestRegister(t *testing.T) {
	counter := Definition{Name: "test_counter_total", Type: Counter, Help: "A counter.", Labels: []string{"op"}}

	t.Run("registering twice with one registry reuses the first collector", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		first, err := CounterVec(reg, counter)
		require.NoError(t, err)
		again, err := CounterVec(reg, counter)
		require.NoError(t, err)
		assert.Same(t, first, again)
	})
	t.Run("a collector of another type than its definition is an error naming the metric", func(t *testing.T) {
		_, err := GaugeVec(prometheus.NewRegistry(), counter)
		require.ErrorContains(t, err, "test_counter_total")
	})
	t.Run("a name taken by a different collector is an error naming the metric", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		_, err := CounterVec(reg, counter)
		require.NoError(t, err)
		_, err = NewCounter(reg, Definition{Name: "test_counter_total", Type: Counter, Help: "Another."})
		require.ErrorContains(t, err, "test_counter_total")
	})
}

func TestDefineRefusesADuplicateName(t *testing.T) {
	Define(Definition{Name: "test_defined_once", Type: Gauge, Help: "Once."})
	assert.Panics(t, func() { Define(Definition{Name: "test_defined_once", Type: Gauge, Help: "Twice."}) })
	var names []string
	for _, d := range Defined() {
		names = append(names, d.Name)
	}
	assert.Contains(t, names, "test_defined_once")
}

func TestGaugesFunc(t *testing.T) {
	ready := Definition{Name: "test_ready", Type: Gauge, Help: "Ready.", Labels: []string{"name"}}
	other := Definition{Name: "test_other", Type: Gauge, Help: "Not this collector's."}
	names := []string{"a", "b"}
	reg := prometheus.NewRegistry()
	require.NoError(t, GaugesFunc(reg, []Definition{ready}, func(emit Emit) {
		for i, n := range names {
			emit(ready, float64(i), n)
		}
	}))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP test_ready Ready.
# TYPE test_ready gauge
test_ready{name="a"} 0
test_ready{name="b"} 1
`)))
	names = names[:1]
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP test_ready Ready.
# TYPE test_ready gauge
test_ready{name="a"} 0
`)), "series are read when scraped: a gone object leaves none behind")

	require.NoError(t, GaugesFunc(reg, []Definition{ready}, func(Emit) {}), "registering again reuses the first")
	require.ErrorContains(t, GaugesFunc(prometheus.NewRegistry(), []Definition{{Name: "test_total", Type: Counter}}, func(Emit) {}), "defined as a counter, built as a gauge")

	broken := prometheus.NewRegistry()
	require.NoError(t, GaugesFunc(broken, []Definition{ready}, func(emit Emit) {
		emit(other, 1)
		emit(ready, 1, "too", "many")
	}))
	_, err := broken.Gather()
	require.ErrorContains(t, err, "test_other is not one of this collector's")
	require.ErrorContains(t, err, "inconsistent label cardinality")
}
