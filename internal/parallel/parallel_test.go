package parallel

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestForEach(t *testing.T) {
	tests := []struct {
		name     string
		n, chunk int
		procs    int
	}{
		{name: "nothing to do calls nothing", n: 0, chunk: 64, procs: 2},
		{name: "fewer pieces than a chunk run on the caller", n: 5, chunk: 64, procs: 2},
		{name: "many chunks run on every CPU", n: 1000, chunk: 7, procs: 4},
		{name: "a chunk below 1 is one piece at a time", n: 100, chunk: 0, procs: 2},
		{name: "one CPU runs them all in order", n: 100, chunk: 1, procs: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(tc.procs))
			calls := make([]atomic.Int32, tc.n)
			ForEach(tc.n, tc.chunk, func(i int) { calls[i].Add(1) })
			for i := range calls {
				assert.Equal(t, int32(1), calls[i].Load(), "piece %d", i)
			}
		})
	}
}
