// Package parallel runs independent pieces of work on every CPU, the one
// worker pool the CLI's decoding, planning and encoding share. The pure
// packages may not import client-go, whose workqueue.ParallelizeUntil
// does the same for the server.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// ForEach calls fn for every i below n, on every CPU, chunk indexes at a
// time (a chunk amortises the shared counter over pieces that take
// microseconds; below 1 means 1). fn must only write what belongs to i.
// It returns when every call has.
func ForEach(n, chunk int, fn func(i int)) {
	chunk = max(chunk, 1)
	workers := min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				start := int(next.Add(int64(chunk))) - chunk
				if start >= n {
					return
				}
				for i := start; i < min(start+chunk, n); i++ {
					fn(i)
				}
			}
		})
	}
	wg.Wait()
}
