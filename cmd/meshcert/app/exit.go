package app

// Exit codes of the offline commands, for CI pipelines.
const (
	exitOK       = 0
	exitFindings = 1
	exitInput    = 2
)

// exitError carries the process exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func (e *exitError) Unwrap() error { return e.err }
