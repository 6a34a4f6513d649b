package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	// The test binary serves WithOwnRSS's subcommand, as the bench does.
	if len(os.Args) > 1 && os.Args[1] == MeasureRSSCommand {
		os.Exit(ServeMeasureRSS(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// A small gate started by a process that holds a large heap is measured at
// its own size through WithOwnRSS, and at the starter's started directly.
func TestWithOwnRSSMeasuresTheGateAlone(t *testing.T) {
	const held = 256 << 20
	ballast := make([]byte, held)
	for i := range ballast {
		ballast[i] = 1 // resident, not just reserved
	}

	direct, err := RunGate(context.Background(), "gate", exec.Command("/bin/sh", "-c", "exit 0"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, direct.MaxRSSBytes, int64(held), "started directly, the gate inherits this process's peak: the case WithOwnRSS exists for")

	cmd, rss := WithOwnRSS(os.Args[0], exec.Command("/bin/sh", "-c", "exit 79"), filepath.Join(t.TempDir(), "rss"))
	run, err := RunGate(context.Background(), "gate", cmd)
	require.NoError(t, err)
	assert.Equal(t, 79, run.ExitCode, "the gate's exit code comes through")
	own, err := rss()
	require.NoError(t, err)
	assert.Positive(t, own)
	assert.Less(t, own, int64(64<<20), "a shell's peak RSS, not this process's")
	runtime.KeepAlive(ballast)
}

// A gate whose peak was not written is an error, not the figure an earlier
// run left in the file.
func TestWithOwnRSSDoesNotReadAnEarlierRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rss")
	require.NoError(t, os.WriteFile(out, []byte("12345"), 0o600))
	cmd, rss := WithOwnRSS(os.Args[0], exec.Command(filepath.Join(t.TempDir(), "missing")), out)
	run, err := RunGate(context.Background(), "gate", cmd)
	require.NoError(t, err)
	assert.NotZero(t, run.ExitCode, "the measuring process could not start the gate")
	_, err = rss()
	assert.Error(t, err)
}
