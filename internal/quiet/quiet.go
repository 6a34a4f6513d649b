// Package quiet lets background work yield to admission requests. The
// webhooks mark each admission; the controller waits, before a write, until
// admissions have paused, so a burst of applies (kubectl apply -f, a GitOps
// sync) is answered first and the Certificates follow right after it. The
// wait is bounded: under admissions that never pause, writes go ahead once
// they have been held back for the longest deferral.
package quiet

import (
	"context"
	"sync/atomic"
	"time"
)

// Gate records admissions and holds writes back while they come.
type Gate struct {
	// period without admissions that ends a burst.
	period time.Duration
	// maxDeferral bounds how long a burst holds writes back.
	maxDeferral time.Duration
	now         func() time.Time
	// last is when the latest admission came and burstStart when its burst
	// began, in Unix nanoseconds.
	last, burstStart atomic.Int64
	// deferred is the total time writes were held back, in nanoseconds.
	deferred atomic.Int64
}

// New returns a gate ending a burst after period without admissions and
// holding writes back at most maxDeferral per burst. A nil *Gate, or one
// with a zero maxDeferral, never holds anything back.
func New(period, maxDeferral time.Duration) *Gate {
	return &Gate{period: period, maxDeferral: maxDeferral, now: time.Now}
}

// Admitted records an admission request.
func (g *Gate) Admitted() {
	if g == nil {
		return
	}
	now := g.now().UnixNano()
	if previous := g.last.Swap(now); now-previous > int64(g.period) {
		g.burstStart.Store(now)
	}
}

// Wait returns once no admission has come for the gate's period, once the
// current burst has held writes back for maxDeferral, or when ctx ends
// (with its error).
func (g *Gate) Wait(ctx context.Context) error {
	if g == nil || g.maxDeferral <= 0 {
		return nil
	}
	// Time held back is real time, whatever clock decides the bursts.
	start := time.Now()
	defer func() { g.deferred.Add(int64(time.Since(start))) }()
	for {
		now := g.now().UnixNano()
		quietFor := time.Duration(now - g.last.Load())
		if quietFor >= g.period {
			return nil
		}
		deferredFor := time.Duration(now - g.burstStart.Load())
		if deferredFor >= g.maxDeferral {
			return nil
		}
		timer := time.NewTimer(min(g.period-quietFor, g.maxDeferral-deferredFor))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// Deferred is the total time Wait has held writes back.
func (g *Gate) Deferred() time.Duration {
	if g == nil {
		return 0
	}
	return time.Duration(g.deferred.Load())
}
