package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// child is a control-plane component running as a child process, with its output
// going to a log file in the work dir.
type child struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	log     *os.File
}

func startChild(name, bin, logPath string, args []string) (*child, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s binary: %w (run test/cluster/build.sh, or pass --bin-dir)", name, err)
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(lf, "+ %s %q\n", bin, args)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // a terminal's Ctrl-C reaches only the launcher, which stops children in order
		Pdeathsig: syscall.SIGKILL, // never outlive the launcher
	}
	if err := cmd.Start(); err != nil {
		_ = lf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{}), log: lf}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// stop sends SIGTERM, then SIGKILL after the grace period.
func (c *child) stop(grace time.Duration) {
	select {
	case <-c.done:
	default:
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(grace):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	_ = c.log.Close()
}
