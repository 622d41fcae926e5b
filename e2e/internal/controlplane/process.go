// Package controlplane runs the sandbox's real control plane: etcd (embedded
// through its Go module), kube-apiserver and kube-controller-manager, each as
// a child process of the supervisor (the same multi-call binary, different
// subcommands). Separate processes keep the components' global state
// (Prometheus registries, feature gates, klog flags) apart, make each one's
// memory measurable, and let the kernel kill them with the supervisor
// (Pdeathsig).
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Spawner starts children from one OS thread that never exits. Pdeathsig
// fires when the *thread* that forked a child dies; Go may retire idle
// threads, so forking from a locked, immortal thread ties the children's
// lives to the supervisor process itself.
type Spawner struct {
	reqs chan func()
}

// NewSpawner starts the spawning thread.
func NewSpawner() *Spawner {
	s := &Spawner{reqs: make(chan func())}
	go func() {
		runtime.LockOSThread()
		for f := range s.reqs {
			f()
		}
	}()
	return s
}

// Child is a running component.
type Child struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  *os.File
}

// Start runs exe with args, logging stdout and stderr to logPath.
func (s *Spawner) Start(name, exe string, args []string, logPath string) (*Child, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	errc := make(chan error, 1)
	s.reqs <- func() { errc <- cmd.Start() }
	if err := <-errc; err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &Child{Name: name, cmd: cmd, done: make(chan struct{}), log: logFile}
	go func() {
		c.err = cmd.Wait()
		_ = logFile.Close()
		close(c.done)
	}()
	return c, nil
}

// PID of the child.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// Done is closed when the child exits.
func (c *Child) Done() <-chan struct{} { return c.done }

// Err is the exit error once Done is closed.
func (c *Child) Err() error {
	select {
	case <-c.done:
		if c.err == nil {
			return fmt.Errorf("%s exited", c.Name)
		}
		return fmt.Errorf("%s exited: %w", c.Name, c.err)
	default:
		return nil
	}
}

// Stop asks the child to terminate and kills it after `grace`.
func (c *Child) Stop(grace time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return addr.Port, nil
}

// WaitFor polls check until it succeeds, the child dies or ctx ends.
func WaitFor(ctx context.Context, child *Child, interval time.Duration, check func(context.Context) error) error {
	var last error
	for {
		last = check(ctx)
		if last == nil {
			return nil
		}
		var died <-chan struct{}
		if child != nil {
			died = child.Done()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last check: %v)", ctx.Err(), last)
		case <-died:
			return child.Err()
		case <-time.After(interval):
		}
	}
}
