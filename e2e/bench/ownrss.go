package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// MeasureRSSCommand is the subcommand under which a program serves
// ServeMeasureRSS, for WithOwnRSS.
const MeasureRSSCommand = "measure-rss"

// WithOwnRSS returns cmd run through self's MeasureRSSCommand, a small
// process that starts cmd, and a function that reads cmd's own peak RSS
// once the returned command has exited. Run directly, a command's peak RSS
// (ru_maxrss) is at least the peak of the process that started it: Linux
// carries the starting process's peak over into the program at exec. The
// bench holds hundreds of MiB, so a gate it started reported that much
// whatever it used itself. out is the file the peak is written to.
func WithOwnRSS(self string, cmd *exec.Cmd, out string) (*exec.Cmd, func() (int64, error)) {
	args := append([]string{MeasureRSSCommand, "-out", out, "--", cmd.Path}, cmd.Args[1:]...)
	wrapped := exec.Command(self, args...)
	wrapped.Stdin, wrapped.Stdout, wrapped.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	wrapped.Dir, wrapped.Env = cmd.Dir, cmd.Env
	// A run that writes no peak must not be read as an earlier run's.
	_ = os.Remove(out)
	read := func() (int64, error) {
		data, err := os.ReadFile(out)
		if err != nil {
			return 0, fmt.Errorf("failed to read the peak RSS of %s: %w", cmd.Path, err)
		}
		rss, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("failed to read the peak RSS of %s: %w", cmd.Path, err)
		}
		return rss, nil
	}
	return wrapped, read
}

// ServeMeasureRSS is MeasureRSSCommand: args are "-out FILE -- PROGRAM
// ARGS...". It runs PROGRAM with this process's standard streams, writes
// its peak RSS in bytes to FILE and returns its exit code, to exit with.
// PROGRAM is killed if this process dies first, so a killed gate leaves
// nothing behind.
func ServeMeasureRSS(args []string) int {
	if len(args) < 4 || args[0] != "-out" || args[2] != "--" {
		fmt.Fprintf(os.Stderr, "usage: %s -out FILE -- PROGRAM [ARGS...]\n", MeasureRSSCommand)
		return 2
	}
	out, program := args[1], args[3:]
	cmd := exec.Command(program[0], program[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		fmt.Fprintf(os.Stderr, "failed to run %s: %v\n", program[0], err)
		return 127
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintf(os.Stderr, "no resource usage for %s\n", program[0])
		return 127
	}
	if err := os.WriteFile(out, []byte(strconv.FormatInt(gateMaxRSSBytes(ru), 10)), 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "failed to write the peak RSS: %v\n", err)
		return 127
	}
	if code := cmd.ProcessState.ExitCode(); code >= 0 {
		return code
	}
	// Killed by a signal.
	return 128
}
