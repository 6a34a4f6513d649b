package framework

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGracePeriod is how long a component gets to exit after SIGTERM before
// it is killed.
const stopGracePeriod = 10 * time.Second

// process is one component of a control plane: a binary in its own process
// group, its output in a log file.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	logFile *os.File

	done    chan struct{}
	waitErr error
}

// spawnRequests is served by one goroutine locked to its OS thread for the
// life of the process. Pdeathsig fires when the *thread* that forked a child
// exits, and the Go runtime may retire threads; forking from a thread that
// never exits makes Pdeathsig mean "when the test process dies".
var (
	spawnerOnce   sync.Once
	spawnRequests chan spawnRequest
)

type spawnRequest struct {
	cmd    *exec.Cmd
	result chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnerOnce.Do(func() {
		spawnRequests = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread()
			for request := range spawnRequests {
				request.result <- request.cmd.Start()
			}
		}()
	})
	result := make(chan error, 1)
	spawnRequests <- spawnRequest{cmd: cmd, result: result}
	return <-result
}

// startProcess starts binary with args, output appended to logPath.
func startProcess(name, binary string, args []string, logPath string) (*process, error) {
	return startProcessIn(name, binary, args, nil, "", logPath)
}

// startProcessIn is startProcess with extra environment variables (after
// the test process's own, so they win) and a working directory ("" for the
// test's).
func startProcessIn(name, binary string, args, env []string, workDir, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open the log of %s: %w", name, err)
	}
	command := binary + " " + strings.Join(args, " ")
	if len(env) > 0 {
		command = strings.Join(env, " ") + " " + command
	}
	if workDir != "" {
		command = "cd " + workDir + " && " + command
	}
	fmt.Fprintf(logFile, "# %s\n", command)
	cmd := exec.Command(binary, args...)
	cmd.Dir = workDir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: Stop can signal everything the component
		// spawned, and a terminal's Ctrl-C reaches only the test process,
		// which then stops the components in order.
		Setpgid: true,
		// If the test process dies (panic, timeout, kill -9), so do we.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := spawn(cmd); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("failed to start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, logFile: logFile, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exitError reports how the process ended, or nil while it runs.
func (p *process) exitError() error {
	select {
	case <-p.done:
		if p.waitErr != nil {
			return fmt.Errorf("%s exited: %w", p.name, p.waitErr)
		}
		return fmt.Errorf("%s exited", p.name)
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group, SIGKILL after the grace period,
// and returns once the process has been reaped.
func (p *process) stop() error {
	const grace = stopGracePeriod
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.pid(), syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("failed to send SIGTERM to %s: %w", p.name, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		if err := syscall.Kill(-p.pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("failed to send SIGKILL to %s: %w", p.name, err)
		}
		<-p.done
	}
	return nil
}

// kill sends SIGKILL to the process group, as a crash or the OOM killer
// would end it, and waits until it has been reaped.
func (p *process) kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("failed to send SIGKILL to %s: %w", p.name, err)
	}
	<-p.done
	return nil
}

// rssBytes is the resident set size of the process (VmRSS), the memory it
// really occupies.
func (p *process) rssBytes() (int64, error) {
	rss, err := ProcessRSS(p.pid())
	if err != nil {
		return 0, fmt.Errorf("failed to read the memory of %s: %w", p.name, err)
	}
	return rss, nil
}

// ProcessRSS is the resident set size (VmRSS) of process pid, in bytes.
func ProcessRSS(pid int) (int64, error) {
	file, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("failed to read the status of process %d: %w", pid, err)
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		var kib int64
		if _, err := fmt.Sscanf(scanner.Text(), "VmRSS: %d kB", &kib); err == nil {
			return kib * 1024, nil
		}
	}
	if err := scanner.Err(); err != nil {
		return 0, fmt.Errorf("failed to read the status of process %d: %w", pid, err)
	}
	return 0, fmt.Errorf("no VmRSS in the status of process %d", pid)
}

// logTail returns the last lines of the component's log.
func (p *process) logTail(lines int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(failed to read %s: %v)", p.logPath, err)
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// logContains reports whether the component's log contains text.
func (p *process) logContains(text string) bool {
	data, err := os.ReadFile(p.logPath)
	return err == nil && strings.Contains(string(data), text)
}
