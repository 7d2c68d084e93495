package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// apiServerControl lets a test take the kube-apiserver away and bring it back on the same etcd
// data, as a managed control-plane upgrade or an API server restart does: SIGUSR1 stops it (the
// outage begins: connections are refused), SIGUSR2 starts it again with the same flags, port,
// certificates and etcd. Controllers and the pod simulator reconnect by themselves.
type apiServerControl struct {
	mu       sync.Mutex
	bin      string
	dir      string
	args     []string
	cur      *child
	stopped  bool
	restarts int
	say      func(format string, args ...any)
	// unexpected receives the child when it exits without being told to.
	unexpected chan *child
}

func newAPIServerControl(first *child, bin, dir string, args []string, say func(string, ...any)) *apiServerControl {
	a := &apiServerControl{bin: bin, dir: dir, args: args, cur: first, say: say, unexpected: make(chan *child, 1)}
	a.watch(first)
	return a
}

func (a *apiServerControl) watch(c *child) {
	go func() {
		<-c.done
		a.mu.Lock()
		told := a.stopped || a.cur != c
		a.mu.Unlock()
		if !told {
			a.unexpected <- c
		}
	}()
}

// stop takes the API server away (idempotent).
func (a *apiServerControl) stop() {
	a.mu.Lock()
	c := a.cur
	already := a.stopped
	a.stopped = true
	a.mu.Unlock()
	if already || c == nil {
		return
	}
	started := time.Now()
	c.stop(15 * time.Second)
	a.say("kube-apiserver stopped on request (SIGUSR1) in %s; SIGUSR2 starts it again", time.Since(started).Round(time.Millisecond))
}

// start brings a stopped API server back (idempotent); its log goes to kube-apiserver-restart-N.log.
func (a *apiServerControl) start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.stopped {
		return nil
	}
	a.restarts++
	logPath := filepath.Join(a.dir, fmt.Sprintf("kube-apiserver-restart-%d.log", a.restarts))
	c, err := startChild("kube-apiserver", a.bin, logPath, a.args)
	if err != nil {
		return err
	}
	a.cur = c
	a.stopped = false
	a.watch(c)
	a.say("kube-apiserver started again on request (SIGUSR2), restart %d, log %s", a.restarts, logPath)
	return nil
}

// shutdown stops it for good, at the launcher's exit.
func (a *apiServerControl) shutdown() {
	a.mu.Lock()
	c := a.cur
	a.stopped = true
	a.mu.Unlock()
	if c != nil {
		c.stop(15 * time.Second)
	}
}

// current is the running (or last) API server process, for log tails.
func (a *apiServerControl) current() *child {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

func (a *apiServerControl) describe() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.TrimSpace(fmt.Sprintf("kube-apiserver (restarts: %d, stopped: %v)", a.restarts, a.stopped))
}
