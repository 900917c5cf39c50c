package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is `reins serve` running as a child process.
type server struct {
	cmd      *exec.Cmd
	baseURL  string
	pprofURL string // base URL of its net/http/pprof, when started with --pprof-addr
	// lifetimePeak is the highest VmHWM seen before a resetPeak.
	lifetimePeak int64
	logPath      string
	logFile      *os.File
	exited       chan struct{} // closed when the process has exited
	waitErr      error
}

// startServer starts binary with args plus --addr on a free port, logging to a file in dir,
// and waits until /healthz answers.
// With pprof, it also serves Go's profiler on another free port (reins serve --pprof-addr).
func startServer(ctx context.Context, binary string, args []string, dir string, pprof bool, logf func(string, ...any)) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &server{baseURL: "http://" + addr, logPath: filepath.Join(dir, "serve.log"), exited: make(chan struct{})}
	if pprof {
		paddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		args = append(slices.Clone(args), "--pprof-addr", paddr)
		s.pprofURL = "http://" + paddr
	}
	// Appended to: a restarted server (bench.restartServer) writes after the one before.
	if s.logFile, err = os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
		return nil, err
	}
	// Not CommandContext: the server must be stopped gracefully by stop, not killed when
	// ctx ends.
	s.cmd = exec.Command(binary, append(args, "--addr", addr)...)
	s.cmd.Stdout, s.cmd.Stderr = s.logFile, s.logFile
	s.cmd.Env = childEnv()
	s.cmd.SysProcAttr = childProcAttr()
	if err := s.cmd.Start(); err != nil {
		s.logFile.Close()
		return nil, fmt.Errorf("start reins serve: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	logf("reins serve started: pid %d on %s (log %s)", s.cmd.Process.Pid, addr, s.logPath)
	if err := s.waitHealthy(ctx, 60*time.Second); err != nil {
		return s, err
	}
	return s, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) waitHealthy(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.baseURL+"/healthz", nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("reins serve exited before it was healthy: %v (log: %s)", s.waitErr, s.tail(20))
		case <-ctx.Done():
			return fmt.Errorf("reins serve not healthy within %s: %w (log: %s)", timeout, ctx.Err(), s.tail(20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// alive returns an error when the server process has exited.
func (s *server) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("reins serve exited: %v (log: %s)", s.waitErr, s.tail(20))
	default:
		return nil
	}
}

// stop sends SIGTERM and waits for a graceful exit, killing the process after grace.
func (s *server) stop(grace time.Duration) error {
	defer s.logFile.Close()
	select {
	case <-s.exited:
		return nil // it had already exited; alive reported why
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		var exit *exec.ExitError
		if s.waitErr != nil && !errors.As(s.waitErr, &exit) {
			return s.waitErr
		}
		if exit != nil {
			return fmt.Errorf("reins serve exited with %v on SIGTERM", s.waitErr)
		}
		return nil
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("reins serve did not stop within %s of SIGTERM; killed it", grace)
	}
}

// tail returns the last n lines of the server's log.
func (s *server) tail(n int) string {
	raw, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\n" + strings.Join(lines, "\n")
}

func (s *server) dumpLog(w io.Writer, n int) {
	fmt.Fprintf(w, "--- last lines of %s:%s\n---\n", s.logPath, s.tail(n))
}

// memory reads the process's current and peak resident set size, in bytes, from
// /proc/<pid>/status (VmRSS, VmHWM).
func (s *server) memory() (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.pid()))
	if err != nil {
		return 0, 0, fmt.Errorf("read the server's memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		fields := strings.Fields(value) // "123456 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, 0, fmt.Errorf("unexpected %s line %q", key, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if peak == 0 {
		return 0, 0, errors.New("no VmHWM in /proc/<pid>/status")
	}
	return rss, peak, nil
}

// resetPeak resets the process's peak RSS (VmHWM) to its current RSS, by writing 5 to
// /proc/<pid>/clear_refs (Linux 4.0 and later), so a figure reads its own peak. Where that
// is not possible, the peak stays the process's lifetime peak, an upper bound; the failure
// is not an error.
func (s *server) resetPeak() {
	if _, peak, err := s.memory(); err == nil {
		s.lifetimePeak = max(s.lifetimePeak, peak)
	}
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.pid()), []byte("5"), 0)
}

// peakEver is the process's peak RSS over its whole life, across resetPeak.
func (s *server) peakEver() (int64, error) {
	_, peak, err := s.memory()
	return max(peak, s.lifetimePeak), err
}
