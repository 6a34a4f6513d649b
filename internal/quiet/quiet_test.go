package quiet

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a settable time for the gate; Wait's timers still run in real
// time, so the tests keep the gate's periods short.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestGate(period, maxDeferral time.Duration) (*Gate, *clock) {
	c := &clock{now: time.Unix(1_000_000, 0)}
	g := New(period, maxDeferral)
	g.now = c.Now
	return g, c
}

func TestWaitReturnsAtOnce(t *testing.T) {
	tests := []struct {
		name  string
		setup func(g *Gate, c *clock)
	}{
		{
			name:  "no admission has ever come",
			setup: func(*Gate, *clock) {},
		},
		{
			name: "the last admission is a whole period old",
			setup: func(g *Gate, c *clock) {
				g.Admitted()
				c.Advance(time.Hour)
			},
		},
		{
			name: "the burst has already held writes back for the longest deferral",
			setup: func(g *Gate, c *clock) {
				// Admissions every half period for the whole deferral: the
				// burst never pauses.
				for range 2 * 60 {
					g.Admitted()
					c.Advance(time.Hour / 2)
				}
				g.Admitted()
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, c := newTestGate(time.Hour, 60*time.Hour)
			tt.setup(g, c)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			require.NoError(t, g.Wait(ctx), "Wait must not block")
		})
	}
}

func TestWaitHoldsWritesBackDuringABurst(t *testing.T) {
	// The clock stands still, so without the deadline Wait would block for
	// an hour: a returned context error shows it was holding back.
	g, _ := newTestGate(time.Hour, 60*time.Hour)
	g.Admitted()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, g.Wait(ctx), context.DeadlineExceeded)
	assert.Positive(t, g.Deferred(), "the time held back is counted")
}

func TestWaitReturnsOnceAdmissionsPause(t *testing.T) {
	g := New(20*time.Millisecond, time.Hour)
	g.Admitted()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, g.Wait(ctx))
	assert.GreaterOrEqual(t, time.Since(start), 15*time.Millisecond, "Wait returned before the pause")
}

func TestWaitReturnsAfterTheLongestDeferralUnderEndlessAdmissions(t *testing.T) {
	g := New(time.Hour, 30*time.Millisecond)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				g.Admitted()
				time.Sleep(time.Millisecond)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, g.Wait(ctx), "writes must go ahead once held back for the longest deferral")
}

func TestANilOrDisabledGateHoldsNothingBack(t *testing.T) {
	tests := []struct {
		name string
		gate *Gate
	}{
		{name: "a nil gate", gate: nil},
		{name: "a gate with no deferral", gate: New(time.Hour, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.gate.Admitted()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			require.NoError(t, tt.gate.Wait(ctx))
			assert.Zero(t, tt.gate.Deferred())
		})
	}
}
