package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// checkPprof decides whether --cpuprofile can work: the built reins serve must have
// --pprof-addr (net/http/pprof on a listener of its own). Without it the figures run
// unprofiled and the report says so.
func (b *bench) checkPprof(ctx context.Context) {
	if b.opts.cpuProfileDir == "" {
		return
	}
	out, _ := exec.CommandContext(ctx, b.binary, "serve", "-h").CombinedOutput()
	if !strings.Contains(string(out), "-pprof-addr") {
		b.logf("--cpuprofile: this reins serve has no --pprof-addr; no profiles are taken")
		b.report.note("cpu profiles: none taken, this reins serve has no --pprof-addr")
		return
	}
	if err := os.MkdirAll(b.opts.cpuProfileDir, 0o755); err != nil {
		b.logf("--cpuprofile: %v; no profiles are taken", err)
		return
	}
	b.pprof = true
	b.report.note("cpu profiles of reins serve in %s, one file a second of each profiled run (`go tool pprof -top FIGURE-*.pb.gz` merges them); profiling costs some CPU, so ratios from a profiled run read a little high", b.opts.cpuProfileDir)
}

// profileIf is profile when on (a figure's last run, the one profiled), and does nothing
// otherwise.
func (b *bench) profileIf(ctx context.Context, on bool, name string) (stop func()) {
	if !on {
		return func() {}
	}
	return b.profile(ctx, name)
}

// profile starts taking CPU profiles of the server, back to back, one second each, into
// --cpuprofile as NAME-NNN.pb.gz, until the returned function is called (which waits for
// the slice in progress). Without profiling it does nothing.
func (b *bench) profile(ctx context.Context, name string) (stop func()) {
	if !b.pprof || b.srv == nil || b.srv.pprofURL == "" || name == "" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ctx.Err() == nil; i++ {
			path := filepath.Join(b.opts.cpuProfileDir, fmt.Sprintf("%s-%03d.pb.gz", name, i))
			if err := fetchProfile(context.WithoutCancel(ctx), b.srv.pprofURL, path); err != nil {
				b.logf("cpu profile %s: %v", path, err)
				return
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		b.logf("cpu profiles of %s in %s", name, b.opts.cpuProfileDir)
	}
}

// fetchProfile saves a one-second CPU profile from the server's pprof endpoint.
func fetchProfile(ctx context.Context, base, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/debug/pprof/profile?seconds=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
