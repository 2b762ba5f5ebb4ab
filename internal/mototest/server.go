package mototest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Binary is the executable StartProcess looks up on PATH.
const Binary = "moto_server"

// StartTimeout bounds how long StartProcess waits for moto_server to answer
// GET /moto-api/config.
const StartTimeout = 30 * time.Second

// ErrNotInstalled reports that moto_server is not on PATH.
var ErrNotInstalled = errors.New("moto_server not found on PATH: pip install 'moto[server]'")

// errPortTaken marks a start attempt lost to another process binding the
// port between our probe and moto's bind; StartProcess retries those.
var errPortTaken = errors.New("port already in use")

const (
	startAttempts = 5
	stopGrace     = 5 * time.Second
	pollInterval  = 50 * time.Millisecond
	// readyLine is what werkzeug prints once moto's socket is bound. Waiting
	// for it as well as for the HTTP probe proves the answering server is
	// ours and not another test binary's moto that grabbed the same port.
	readyLine = "Running on http://"
	// bindFailure is what moto prints when the port is taken.
	bindFailure = "Address already in use"
)

// Server is one moto_server process listening on a loopback port.
type Server struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:41234.
	URL string
	// LogPath is the file holding the server's stdout and stderr.
	LogPath string

	cmd       *exec.Cmd
	exited    chan struct{}
	ownsLog   bool
	closeOnce sync.Once
	closeErr  error
}

// StartProcess starts moto_server on a free loopback port and waits until it
// answers, for callers without a testing.TB (the demo, benchmarks, tools).
// ctx bounds the startup only; the server runs until Close. Output goes to
// logPath, or to a new temporary file (removed by Close) when logPath is "".
func StartProcess(ctx context.Context, logPath string) (*Server, error) {
	bin, err := exec.LookPath(Binary)
	if err != nil {
		return nil, fmt.Errorf("%w (%w)", ErrNotInstalled, err)
	}
	ownsLog := false
	if logPath == "" {
		f, err := os.CreateTemp("", "moto-*.log")
		if err != nil {
			return nil, fmt.Errorf("creating moto_server log file: %w", err)
		}
		logPath = f.Name()
		f.Close()
		ownsLog = true
	}
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()

	var errs []error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			errs = append(errs, err)
			break
		}
		srv, err := startOnce(ctx, bin, logPath, port)
		if err == nil {
			srv.ownsLog = ownsLog
			return srv, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	if ownsLog {
		os.Remove(logPath)
	}
	return nil, fmt.Errorf("starting %s: %w", Binary, errors.Join(errs...))
}

func startOnce(ctx context.Context, bin, logPath string, port int) (*Server, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating moto_server log file: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor

	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Unbuffered so the log is complete when a failure message quotes it.
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	setProcAttr(cmd)
	s := &Server{
		URL:     "http://127.0.0.1:" + strconv.Itoa(port),
		LogPath: logPath,
		cmd:     cmd,
		exited:  make(chan struct{}),
	}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the forking OS thread exits, so
		// fork from a thread this goroutine owns until moto has exited.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("running %s: %w", bin, err)
	}
	if err := s.waitReady(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// freePort asks the kernel for a free loopback port. Another process can take
// it before moto binds; startOnce reports that as errPortTaken.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.exited:
			log := s.logTail()
			if strings.Contains(log, bindFailure) {
				return fmt.Errorf("%s: %w", s.URL, errPortTaken)
			}
			return fmt.Errorf("moto_server exited during startup (%v); log %s:\n%s", s.cmd.ProcessState, s.LogPath, log)
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s/moto-api/config: %w; log %s:\n%s", s.URL, ctx.Err(), s.LogPath, s.logTail())
		case <-tick.C:
		}
		if !strings.Contains(s.logTail(), readyLine) {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/moto-api/config", nil)
		if err != nil {
			return fmt.Errorf("building readiness probe: %w", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		// moto 5.2.1 answers this GET with 201, so accept any 2xx.
		if resp.StatusCode/100 == 2 {
			return nil
		}
	}
}

func (s *Server) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// logTail returns the last few KiB of the server log, for failure messages.
func (s *Server) logTail() string {
	const max = 8 << 10
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", s.LogPath, err)
	}
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// Close stops the server and every process in its process group: SIGTERM,
// then SIGKILL after a grace period. It removes the log file if StartProcess
// created it. Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		select {
		case <-s.exited:
		default:
			terminate(s.cmd)
			select {
			case <-s.exited:
			case <-time.After(stopGrace):
				kill(s.cmd)
				<-s.exited
			}
		}
		// Catch anything the server left behind in its group, even if the
		// leader went first.
		kill(s.cmd)
		if s.ownsLog {
			if err := os.Remove(s.LogPath); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.closeErr = fmt.Errorf("removing moto_server log: %w", err)
			}
		}
	})
	return s.closeErr
}

// ResetContext wipes all state in the server (POST /moto-api/reset).
func (s *Server) ResetContext(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/moto-api/reset", nil)
	if err != nil {
		return fmt.Errorf("building reset request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("resetting moto: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("resetting moto: HTTP %s", resp.Status)
	}
	return nil
}
