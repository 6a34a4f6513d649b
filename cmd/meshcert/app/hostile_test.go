package app

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshcert/meshcert/internal/hostile"
)

// TestHostileInputThroughCheck runs the hostile corpus the webhooks get
// (internal/hostile) through `meshcert check`, each object as a file:
// garbage gets exit 2 naming the file, or error findings (exit 1), never
// exit 0 and never a panic; extreme but valid objects get any verdict.
func TestHostileInputThroughCheck(t *testing.T) {
	dir := t.TempDir()
	for i, c := range hostile.Objects() {
		t.Run(c.Name, func(t *testing.T) {
			// -f splits on commas, as kubectl's does; case names have some.
			file := filepath.Join(dir, fmt.Sprintf("hostile-%02d.json", i))
			require.NoError(t, os.WriteFile(file, c.Object, 0o600))
			start := time.Now()
			var stdout, stderr string
			var exit int
			require.NotPanics(t, func() { stdout, stderr, exit = run(t, "", "check", "-f", file) }, "case %d", i)
			t.Logf("%d bytes, exit %d in %s", len(c.Object), exit, time.Since(start).Round(time.Millisecond))
			switch c.Garbage {
			case hostile.Unreadable:
				assert.Equal(t, exitInput, exit, "unreadable input is exit 2: %s%s", stdout, stderr)
				assert.Contains(t, stderr, filepath.Base(file), "the error names the file")
			case hostile.Invalid:
				assert.Contains(t, []int{exitFindings, exitInput}, exit, "garbage is never exit 0: %s", stdout)
				if exit == exitFindings {
					assert.Contains(t, stdout, " error MC", "exit 1 comes with an error finding")
				}
			case hostile.Extreme:
				assert.Contains(t, []int{exitOK, exitFindings}, exit, "%s%s", stdout, stderr)
			}
		})
	}
}
