package main

import (
	"io"
	"net/http"
	"testing"

	"github.com/reins-dev/reins/reinstest"
)

// TestPprofAddr checks --pprof-addr: the profiler answers on its own listener, and never on
// the API's address; without the flag there is none.
func TestPprofAddr(t *testing.T) {
	t.Parallel()
	kind := reinstest.Kinds(t)[0]
	get := func(url string) int {
		t.Helper()
		r, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		_, _ = io.Copy(io.Discard, r.Body)
		return r.StatusCode
	}
	m := startMainWith(t, kind, func(c *Config) { c.PprofAddr = "127.0.0.1:0" })
	if m.PprofAddr() == "" || m.PprofAddr() == m.Addr() {
		t.Fatalf("the profiler listens on %q, the API on %q", m.PprofAddr(), m.Addr())
	}
	if code := get("http://" + m.PprofAddr() + "/debug/pprof/cmdline"); code != http.StatusOK {
		t.Errorf("the profiler answered %d", code)
	}
	if code := get("http://" + m.Addr() + "/debug/pprof/cmdline"); code == http.StatusOK {
		t.Error("the API's address serves the profiler")
	}
	if off := startMainWith(t, kind, nil); off.PprofAddr() != "" {
		t.Errorf("without --pprof-addr the profiler listens on %s", off.PprofAddr())
	}
}
