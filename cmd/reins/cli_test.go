package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reins-dev/reins/reinstest"
)

// cliServer is a real `reins serve` for the client tests, and the environment a client run
// needs to reach it.
type cliServer struct {
	addr string
	env  []string // REINS_SERVER set to this server
	api  *client
}

// startCLIServer seeds n demo customers into a fresh database of kind and starts the real
// binary serving it. A long --command-wait makes PAUSE answer PAUSED on a loaded machine.
func startCLIServer(t *testing.T, kind reinstest.Kind, n int) *cliServer {
	t.Helper()
	dir, addr, dbURL := t.TempDir(), freeAddr(t), kind.URL(t)
	env := childEnv()
	mustRun(t, env, "seed", "--data-dir", dir, "--database-url", dbURL, "--customers", fmt.Sprint(n))
	p := startReins(t, env, "serve", "--data-dir", dir, "--database-url", dbURL, "--addr", addr,
		"--workers", "2", "--batch-size", "500", "--command-wait", "30s", "--grace", "10s")
	waitHealthy(t, p, addr)
	return &cliServer{addr: addr, env: childEnv("REINS_SERVER=http://" + addr), api: newClient(t, addr)}
}

// cliRun is a finished client run.
type cliRun struct {
	stdout, stderr string
	code           int
}

// cli runs the client binary against the server to completion.
func (s *cliServer) cli(t *testing.T, args ...string) cliRun {
	t.Helper()
	p, code := runReins(t, s.env, args...)
	noPanic(t, p)
	return cliRun{stdout: p.stdout.String(), stderr: p.stderr.String(), code: code}
}

// must runs the client and fails the test unless it exits want.
func (s *cliServer) must(t *testing.T, want int, args ...string) cliRun {
	t.Helper()
	r := s.cli(t, args...)
	if r.code != want {
		t.Fatalf("reins %s exited %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

// jsonLine decodes one line of --json output, failing the test if it is not a JSON object.
func jsonLine(t *testing.T, line string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(line), &v); err != nil {
		t.Fatalf("--json output %q is not a JSON object: %v", line, err)
	}
	return v
}

// jsonLines decodes every line of --json output.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var all []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		all = append(all, jsonLine(t, line))
	}
	return all
}

// waitOutput waits until the running process's output holds s (a poll of its buffer).
func waitOutput(t *testing.T, p *proc, buf *lockedBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(buf.String(), s) {
		select {
		case <-p.exited:
			t.Fatalf("%s exited before writing %q; stdout:\n%s\nstderr:\n%s", p.name, s, p.stdout.String(), p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q within %s; stderr:\n%s", p.name, s, waitLimit, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not synchronisation
	}
}

// TestCLIExport exports through the client: --wait --out FILE and --out - give exactly the
// rows of the range, --json answers parse, and flags may follow the arguments.
func TestCLIExport(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		const n = 3000
		const gte, lte = "2016-01-01", "2021-06-30"
		s := startCLIServer(t, kind, n)
		want, rows := expectedCSV(t, n, gte, lte)

		file := filepath.Join(t.TempDir(), "customers.csv")
		r := s.must(t, 0, "export", "--from", gte, "--to", lte, "--wait", "--out", file)
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("--out FILE differs from the expected CSV: %s", diffCSV(string(got), want))
		}
		if !strings.Contains(r.stdout, "COMPLETED: "+humanCount(int64(rows))+" rows") {
			t.Errorf("stdout does not report the %d rows:\n%s", rows, r.stdout)
		}

		// --out -: the CSV alone on stdout, everything else on stderr; --server as a flag.
		r = s.must(t, 0, "export", "--out", "-", "--server", "http://"+s.addr, "--from", gte, "--to", lte)
		if r.stdout != want {
			t.Errorf("--out - differs from the expected CSV: %s", diffCSV(r.stdout, want))
		}
		if !strings.Contains(r.stderr, "COMPLETED") {
			t.Errorf("stderr does not report the end:\n%s", r.stderr)
		}

		// --json without --wait: the creation answer; with --wait: one object per line,
		// the last COMPLETED.
		created := jsonLine(t, strings.TrimSpace(s.must(t, 0, "export", "--from", gte, "--to", lte, "--json").stdout))
		if id, _ := created["job_id"].(string); id == "" {
			t.Fatalf("export --json has no job_id: %v", created)
		}
		lines := jsonLines(t, s.must(t, 0, "export", "--json", "--wait", "--from", gte, "--to", lte, "--include", "created_at").stdout)
		last := lines[len(lines)-1]
		if last["job_status"] != "COMPLETED" {
			t.Errorf("the last --json line of --wait is %v, want COMPLETED", last)
		}
		progress, _ := last["progress"].(map[string]any)
		if progress["done"] != float64(rows) {
			t.Errorf("the last --json line has done=%v, want %d", progress["done"], rows)
		}

		// A held export says how to confirm it; confirm then starts it.
		r = s.must(t, 0, "export", "--from", gte, "--to", lte, "--confirm-over", "1")
		id := strings.Fields(r.stdout)[1]
		if !strings.Contains(r.stdout, "AWAITING_CONFIRMATION") || !strings.Contains(r.stderr, "reins jobs confirm "+id) {
			t.Fatalf("a held export does not say how to confirm it:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
		s.must(t, 0, "jobs", "confirm", id)
		s.must(t, 0, "jobs", "watch", id)
		if got := s.must(t, 0, "jobs", "download", id, "--out", "-").stdout; got != want {
			t.Errorf("the confirmed export's download differs: %s", diffCSV(got, want))
		}
	})
}

// TestCLIJobs steers throttled exports through the client: pause, get, list with filters,
// a watch that follows the paused job through resume to COMPLETED, revoke, exit codes, and
// the server's error_message on a refused command.
func TestCLIJobs(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		const n = 5000
		const gte, lte = "2015-01-01", "2024-12-31"
		s := startCLIServer(t, kind, n)

		// 500 rows a second: ten seconds of work, paused at once.
		id := jsonLine(t, s.must(t, 0, "export", "--from", gte, "--to", lte, "--max-rows-per-s", "500", "--json").stdout)["job_id"].(string)
		paused := jsonLine(t, s.must(t, 0, "jobs", "pause", id, "--json").stdout)
		if paused["job_status"] != "PAUSED" {
			t.Fatalf("jobs pause ID --json answered %v, want PAUSED", paused)
		}
		if got := jsonLine(t, s.must(t, 0, "jobs", "get", "--json", id).stdout); got["job_status"] != "PAUSED" || got["history"] == nil {
			t.Fatalf("jobs get --json: %v, want PAUSED with its history", got)
		}
		if r := s.must(t, 0, "jobs", "get", id); !strings.Contains(r.stdout, "PAUSED") || !strings.Contains(r.stdout, "history:") {
			t.Errorf("jobs get shows no status or history:\n%s", r.stdout)
		}

		// The listing filters, server-side and (for older servers) client-side.
		listed := func(args ...string) []string {
			t.Helper()
			var answer struct {
				Jobs []struct {
					JobID string `json:"job_id"`
				} `json:"jobs"`
			}
			out := s.must(t, 0, append([]string{"jobs", "list", "--json"}, args...)...).stdout
			if err := json.Unmarshal([]byte(out), &answer); err != nil {
				t.Fatalf("jobs list --json %v: %v in %q", args, err, out)
			}
			var ids []string
			for _, j := range answer.Jobs {
				ids = append(ids, j.JobID)
			}
			return ids
		}
		if ids := listed("--status", "PAUSED"); len(ids) != 1 || ids[0] != id {
			t.Errorf("jobs list --status PAUSED = %v, want [%s]", ids, id)
		}
		if ids := listed("--status", "COMPLETED"); len(ids) != 0 {
			t.Errorf("jobs list --status COMPLETED = %v, want none", ids)
		}
		if ids := listed("--type", "import"); len(ids) != 0 {
			t.Errorf("jobs list --type import = %v, want none", ids)
		}
		if r := s.must(t, 0, "jobs", "list"); !strings.HasPrefix(r.stdout, "ID\tTYPE\tSTATUS") || !strings.Contains(r.stdout, id+"\texport\tPAUSED") {
			t.Errorf("jobs list (not a terminal) is not plain tab-separated lines:\n%s", r.stdout)
		}

		// A watch started on the paused job follows it through RESUME to COMPLETED.
		watch := startReins(t, s.env, "jobs", "watch", id)
		waitOutput(t, watch, watch.stderr, "PAUSED")
		s.must(t, 0, "jobs", "resume", id)
		if code := watch.wait(t, waitLimit); code != 0 {
			t.Fatalf("jobs watch exited %d, want 0; stderr:\n%s", code, watch.stderr.String())
		}
		out := watch.stderr.String()
		iPaused, iDone := strings.Index(out, "PAUSED"), strings.Index(out, "COMPLETED "+fmt.Sprint(n)+"/"+fmt.Sprint(n))
		if iPaused < 0 || iDone < iPaused {
			t.Errorf("jobs watch did not show PAUSED then COMPLETED %d/%d:\n%s", n, n, out)
		}
		if s.api.status(id).JobStatus != "COMPLETED" {
			t.Errorf("the watched job is not COMPLETED")
		}
		want, _ := expectedCSV(t, n, gte, lte)
		file := filepath.Join(t.TempDir(), "out.csv")
		s.must(t, 0, "jobs", "download", id, "--out", file)
		if got, _ := os.ReadFile(file); string(got) != want {
			t.Errorf("jobs download differs: %s", diffCSV(string(got), want))
		}
		// --out naming something other than a regular file (a pipe here; /dev/null, a
		// terminal) is written into, not replaced by a file.
		fifo := filepath.Join(t.TempDir(), "out.fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		read := make(chan string, 1)
		go func() {
			b, _ := os.ReadFile(fifo)
			read <- string(b)
		}()
		s.must(t, 0, "jobs", "download", id, "--out", fifo)
		if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Fatalf("jobs download --out a pipe replaced it: %v, %v", fi.Mode(), err)
		}
		if got := <-read; got != want {
			t.Errorf("jobs download into a pipe differs: %s", diffCSV(got, want))
		}

		// A refused command prints the server's error_message and exits 2.
		answer := s.api.postForm("/api/v1/job-status/"+id+"/", url.Values{"status": {"RESUME"}})
		msg, _ := answer.json(t)["error_message"].(string)
		if msg == "" {
			t.Fatalf("RESUME of a COMPLETED job: %s, want an error_message", answer)
		}
		if r := s.must(t, 2, "jobs", "resume", id); !strings.Contains(r.stderr, msg) {
			t.Errorf("jobs resume of a COMPLETED job: stderr %q does not carry the server's %q", r.stderr, msg)
		}
		if r := s.must(t, 2, "jobs", "get", "no-such-job"); !strings.Contains(r.stderr, "not found") {
			t.Errorf("jobs get of an unknown id: stderr %q", r.stderr)
		}

		// Revoke: the command exits 0; following a revoked job exits 1.
		revoked := jsonLine(t, s.must(t, 0, "export", "--from", gte, "--to", lte, "--max-rows-per-s", "500", "--json").stdout)["job_id"].(string)
		s.must(t, 0, "jobs", "pause", revoked)
		s.must(t, 0, "jobs", "revoke", revoked, "--json")
		if r := s.must(t, 1, "jobs", "watch", revoked); !strings.Contains(r.stderr, "REVOKED") {
			t.Errorf("jobs watch of a revoked job: stderr %q", r.stderr)
		}
	})
}

// TestCLIUsage: bad usage and an unreachable server exit 2 with a message; help exits 0.
func TestCLIUsage(t *testing.T) {
	t.Parallel()
	env := childEnv("REINS_SERVER=http://" + freeAddr(t))
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", "--from", "2020-01-01"}, 2, "--from and --to are required"},
		{[]string{"jobs"}, 2, "name a subcommand"},
		{[]string{"jobs", "frobnicate", "x"}, 2, "unknown subcommand"},
		{[]string{"jobs", "pause"}, 2, "want a job ID"},
		{[]string{"jobs", "list", "--limit", "x"}, 2, "invalid value"},
		{[]string{"jobs", "list"}, 2, "cannot reach the server"},
		{[]string{"jobs", "get", "x", "--server", "ftp://x"}, 2, "--server must be an http"},
		{[]string{"upload", "/no/such/file.csv"}, 2, "no such file"},
		{[]string{"jobs", "watch", "-h"}, 0, "-server"},
	} {
		p, code := runReins(t, env, tc.args...)
		if code != tc.code || !strings.Contains(p.stderr.String(), tc.want) {
			t.Errorf("reins %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), code, p.stderr.String(), tc.code, tc.want)
		}
	}
}

// TestCLIUpload uploads CSVs through the client: skipped rows are counted and listed, a bad
// row under the default on_error fails the job (exit 1) with the reason.
func TestCLIUpload(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		s := startCLIServer(t, kind, 10)
		file := filepath.Join(t.TempDir(), "people.csv")
		csv := "first_name,last_name,address,email,age,company\n" +
			"Ada,Lovelace,1 Analytical St,ada@example.com,36,Engines\n" +
			"Bad,Row,2 Nowhere,not-an-email,40,X\n" +
			"Alan,Turing,3 Bletchley Park,alan@example.com,41,GCCS\n"
		if err := os.WriteFile(file, []byte(csv), 0o644); err != nil {
			t.Fatal(err)
		}
		r := s.must(t, 0, "upload", file, "--on-error", "skip", "--wait")
		if !strings.Contains(r.stdout, "COMPLETED: 2 rows, 1 skipped") {
			t.Errorf("upload --wait does not report 2 rows and 1 skipped:\n%s", r.stdout)
		}
		if !strings.Contains(r.stderr, "line 3, column email") {
			t.Errorf("upload --wait does not list the skipped row:\n%s", r.stderr)
		}
		if !strings.Contains(r.stderr, "3/3 (100.0%), 1 skipped") {
			t.Errorf("the progress does not count the skipped row as done:\n%s", r.stderr)
		}

		lines := jsonLines(t, s.must(t, 0, "upload", "--json", "--wait", file, "--on-error", "skip").stdout)
		if last := lines[len(lines)-1]; last["job_status"] != "COMPLETED" || last["skipped"] != float64(1) {
			t.Errorf("the last --json line is %v, want COMPLETED with skipped 1", last)
		}

		r = s.must(t, 1, "upload", file, "--wait")
		if !strings.Contains(r.stderr, "FAILED") || !strings.Contains(r.stderr, "not-an-email") {
			t.Errorf("a failed import does not say why:\n%s", r.stderr)
		}
		// A mapping the server refuses: its error_message, exit 2.
		if r := s.must(t, 2, "upload", file, "--mapping", "{not json"); !strings.Contains(r.stderr, "mapping") {
			t.Errorf("a bad --mapping: stderr %q", r.stderr)
		}
	})
}

// TestCLIInterruptNotTerminal: Ctrl-C (SIGINT) while a script waits leaves the job as it is
// and says so, exit 130.
func TestCLIInterruptNotTerminal(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		s := startCLIServer(t, kind, 2000)
		id := jsonLine(t, s.must(t, 0, "export", "--from", "2015-01-01", "--to", "2024-12-31", "--max-rows-per-s", "200", "--json").stdout)["job_id"].(string)
		s.must(t, 0, "jobs", "pause", id)
		watch := startReins(t, s.env, "jobs", "watch", id)
		waitOutput(t, watch, watch.stderr, "PAUSED")
		if err := watch.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := watch.wait(t, waitLimit); code != 130 {
			t.Fatalf("jobs watch after SIGINT exited %d, want 130; stderr:\n%s", code, watch.stderr.String())
		}
		if !strings.Contains(watch.stderr.String(), "left PAUSED on the server") {
			t.Errorf("jobs watch after SIGINT does not say it left the job:\n%s", watch.stderr.String())
		}
		if st := s.api.status(id).JobStatus; st != "PAUSED" {
			t.Errorf("the job is %s after the client was interrupted, want PAUSED", st)
		}
	})
}

// TestCLIOldServer follows a job on a server without the event stream (a proxy in front of
// the real one answers 404 for it, as servers before it did): the client polls job-status.
func TestCLIOldServer(t *testing.T) {
	t.Parallel()
	kind := reinstest.Kinds(t)[0]
	const n = 3000
	s := startCLIServer(t, kind, n)
	target, err := url.Parse("http://" + s.addr)
	if err != nil {
		t.Fatal(err)
	}
	var streams atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/events") {
			streams.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error_message":"not found"}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(old.Close)

	id := jsonLine(t, s.must(t, 0, "export", "--from", "2015-01-01", "--to", "2024-12-31", "--max-rows-per-s", "500", "--json").stdout)["job_id"].(string)
	s.must(t, 0, "jobs", "pause", id)
	watch := startReins(t, s.env, "jobs", "watch", id, "--server", old.URL)
	waitOutput(t, watch, watch.stderr, "PAUSED")
	s.must(t, 0, "jobs", "resume", id)
	if code := watch.wait(t, waitLimit); code != 0 {
		t.Fatalf("jobs watch through the old server exited %d; stderr:\n%s", code, watch.stderr.String())
	}
	if !strings.Contains(watch.stderr.String(), fmt.Sprintf("COMPLETED %d/%d", n, n)) {
		t.Errorf("jobs watch through the old server did not reach COMPLETED:\n%s", watch.stderr.String())
	}
	if streams.Load() == 0 {
		t.Errorf("the client never asked for the event stream")
	}
	// An unknown job on the old server is still an error naming it, exit 2.
	if r := s.must(t, 2, "jobs", "watch", "00000000-0000-0000-0000-000000000000", "--server", old.URL); !strings.Contains(r.stderr, "not found") {
		t.Errorf("watching an unknown job: stderr %q", r.stderr)
	}
}
