package e2e

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// waitProcessGone waits until no process has this pid.
func waitProcessGone(ctx context.Context, pid int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for processAlive(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("process %d still running: %w", pid, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
