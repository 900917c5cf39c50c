package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
)

// The terminal client's exit codes (docs/cli.md).
const (
	exitDone        = 0   // the command did what it was asked; a waited-for job COMPLETED
	exitJobFailed   = 1   // a waited-for job FAILED or was REVOKED
	exitUsage       = 2   // bad usage, or the server refused or could not be reached
	exitInterrupted = 130 // Ctrl-C: the job was paused or left running
)

const clientUsage = `Terminal client (talks to a server over HTTP):
  reins export --from D --to D [--max-rows-per-s N] [--columns C,...|--include created_at]
               [--confirm-over N] [--wait] [--out FILE|-]
  reins upload FILE [--type import|teams] [--on-error abort|skip] [--mapping JSON]
               [--max-rows-per-s N] [--wait]
  reins jobs list [--status S]... [--type T] [--limit N] [--cursor C]
  reins jobs get|pause|resume|revoke|confirm ID
  reins jobs watch ID
  reins jobs download ID [--out FILE|-]

Every client command takes --server URL (REINS_SERVER, default http://127.0.0.1:8000),
--token T (REINS_TOKEN) and --json; flags may come before or after the arguments.
Exit codes: 0 done, 1 job failed or revoked, 2 usage or server error, 130 interrupted.
`

// isClientCommand reports whether args name a terminal-client command.
func isClientCommand(args []string) bool {
	return len(args) > 0 && (args[0] == "export" || args[0] == "upload" || args[0] == "jobs")
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// parseInterspersed parses fs from args allowing flags after the arguments too (`reins jobs
// pause ID --json`), and returns the arguments. "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at the first argument, or after "--": then everything left is arguments.
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// session is one run of a client command.
type session struct {
	ctx        context.Context
	name       string // "jobs pause", for messages
	cfg        Config
	json       bool
	api        *apiClient
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	info       io.Writer // where messages for people go: stdout, or stderr when stdout carries data
	tty        bool      // stderr is a terminal: live bars
	stdinTTY   bool      // a person can answer a question
	interrupts <-chan os.Signal

	lines     *bufio.Reader
	linesOnce sync.Once
}

// runClient runs a client command and returns its exit code. interrupts delivers Ctrl-C
// while a command waits for a job (nil: never).
func runClient(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, interrupts <-chan os.Signal) int {
	cfg, err := DefaultConfig()
	if err != nil {
		fmt.Fprintf(stderr, "reins: %v\n", err)
		return exitUsage
	}
	s := &session{ctx: ctx, cfg: cfg, stdin: stdin, stdout: stdout, stderr: stderr, info: stdout,
		tty: isTerminal(stderr), stdinTTY: isTerminal(stdin), interrupts: interrupts}
	var run func(fs *flag.FlagSet) (func([]string) (int, error), error)
	s.name = args[0]
	rest := args[1:]
	switch args[0] {
	case "export":
		run = s.exportCmd
	case "upload":
		run = s.uploadCmd
	case "jobs":
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			if len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help") {
				fmt.Fprint(stdout, clientUsage)
				return exitDone
			}
			fmt.Fprintf(stderr, "reins jobs: name a subcommand: list, get, pause, resume, revoke, confirm, watch, download\n\n%s", clientUsage)
			return exitUsage
		}
		s.name = "jobs " + rest[0]
		switch rest[0] {
		case "list":
			run = s.listCmd
		case "get":
			run = s.getCmd
		case "pause", "resume", "revoke", "confirm":
			run = s.commandCmd(strings.ToUpper(rest[0]))
		case "watch":
			run = s.watchCmd
		case "download":
			run = s.downloadCmd
		default:
			fmt.Fprintf(stderr, "reins jobs: unknown subcommand %q\n\n%s", rest[0], clientUsage)
			return exitUsage
		}
		rest = rest[1:]
	}
	fs := s.cfg.clientFlagSet(s.name, stderr, &s.json)
	body, err := run(fs)
	if err == nil {
		var pos []string
		if pos, err = parseInterspersed(fs, rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitDone
			}
			return exitUsage // flag has printed the problem and the flags
		}
		if s.api, err = newAPIClient(s.cfg.Server, s.cfg.Token); err == nil {
			var code int
			if code, err = body(pos); err == nil {
				return code
			}
		}
	}
	fmt.Fprintf(stderr, "reins %s: %v\n", s.name, err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "Run 'reins %s -h' for its flags.\n", s.name)
	}
	return exitUsage
}

// args checks the number of arguments.
func wantArgs(pos []string, n int, what string) error {
	if len(pos) != n {
		return usagef("want %s, got %d argument(s) %q", what, len(pos), pos)
	}
	return nil
}

// printJSON writes raw to stdout on one line.
func (s *session) printJSON(raw []byte) {
	fmt.Fprintln(s.stdout, compactJSON(raw))
}

func (s *session) exportCmd(fs *flag.FlagSet) (func([]string) (int, error), error) {
	from := fs.String("from", "", "first day of the range, YYYY-MM-DD (inclusive)")
	to := fs.String("to", "", "last day of the range, YYYY-MM-DD (inclusive)")
	rate := fs.Int("max-rows-per-s", 0, "most rows a second the export reads; 0 for no limit")
	columns := fs.String("columns", "", "the CSV's columns, comma-separated, in order")
	include := fs.String("include", "", "created_at adds the creation time to the default columns")
	confirmOver := fs.String("confirm-over", "", "hold the export for CONFIRM when estimated above this many rows (or auto)")
	wait := fs.Bool("wait", false, "follow the export to its end with a progress bar")
	out := fs.String("out", "", "when done, write the CSV to FILE (- for stdout); implies --wait")
	return func(pos []string) (int, error) {
		if err := wantArgs(pos, 0, "no arguments"); err != nil {
			return 0, err
		}
		if *from == "" || *to == "" {
			return 0, usagef("--from and --to are required (YYYY-MM-DD)")
		}
		if *out == "-" {
			if s.json {
				return 0, usagef("--json and --out - would both write to stdout; give --out a file")
			}
			s.info = s.stderr
		}
		q := url.Values{"date_gte": {*from}, "date_lte": {*to}}
		if *rate != 0 {
			q.Set("max_rows_per_s", strconv.Itoa(*rate))
		}
		for k, v := range map[string]string{"columns": *columns, "include": *include, "confirm_over": *confirmOver} {
			if v != "" {
				q.Set(k, v)
			}
		}
		raw, err := s.api.call(s.ctx, http.MethodGet, "/api/v1/export/?"+q.Encode(), nil, "", nil)
		if err != nil {
			return 0, err
		}
		var created struct{ job }
		if err := json.Unmarshal(raw, &created); err != nil || created.JobID == "" {
			return 0, &apiError{Status: http.StatusOK, Message: "the export answer has no job_id: " + shorten(string(raw), 200)}
		}
		created.JobType = "export"
		if s.json {
			s.printJSON(raw)
		} else {
			fmt.Fprintf(s.info, "export %s %s (customers created %s to %s)\n", created.JobID, created.JobStatus, *from, *to)
		}
		s.warn(created.Warnings)
		if created.JobStatus == "AWAITING_CONFIRMATION" {
			s.held(&created.job)
		}
		if !*wait && *out == "" {
			return exitDone, nil
		}
		code, final, err := s.waitJob(created.JobID)
		if err != nil || code != exitDone || *out == "" {
			return code, err
		}
		return s.download(final.JobID, *out, true)
	}, nil
}

// plural is "1 row" or "2 rows".
func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return humanCount(n) + " " + what + "s"
}

// held tells a person how to start an export its guard holds.
func (s *session) held(j *job) {
	est := ""
	if j.EstimatedRows != nil {
		est = fmt.Sprintf(" (estimated %s rows)", humanCount(*j.EstimatedRows))
	}
	fmt.Fprintf(s.stderr, "export %s is held for confirmation%s: nothing is read until you confirm it.\n"+
		"  start it:  reins jobs confirm %s\n  drop it:   reins jobs revoke %s\n", j.JobID, est, j.JobID, j.JobID)
}

func (s *session) warn(warnings []string) {
	for _, w := range warnings {
		fmt.Fprintf(s.stderr, "warning: %s\n", w)
	}
}

func (s *session) uploadCmd(fs *flag.FlagSet) (func([]string) (int, error), error) {
	jobType := fs.String("type", "import", "the job: import (customers) or teams")
	onError := fs.String("on-error", "", "what a bad row does: abort (the default) or skip")
	mapping := fs.String("mapping", "", `JSON object mapping the file's headers to fields, e.g. {"E-mail":"email"}`)
	rate := fs.Int("max-rows-per-s", 0, "most rows a second the import writes; 0 for no limit")
	wait := fs.Bool("wait", false, "follow the import to its end with a progress bar")
	return func(pos []string) (int, error) {
		if err := wantArgs(pos, 1, "one FILE"); err != nil {
			return 0, err
		}
		f, err := os.Open(pos[0])
		if err != nil {
			return 0, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		if !st.Mode().IsRegular() {
			return 0, usagef("%s is not a regular file", pos[0])
		}
		form := url.Values{"job_type": {*jobType}}
		for k, v := range map[string]string{"on_error": *onError, "mapping": *mapping} {
			if v != "" {
				form.Set(k, v)
			}
		}
		if *rate != 0 {
			form.Set("max_rows_per_s", strconv.Itoa(*rate))
		}
		var created job
		raw, err := s.api.postForm(s.ctx, "/api/v1/new-job/", form, &created)
		if err != nil {
			return 0, err
		}
		if created.JobID == "" {
			return 0, &apiError{Status: http.StatusOK, Message: "the new-job answer has no job_id: " + shorten(string(raw), 200)}
		}
		if !s.json {
			fmt.Fprintf(s.info, "%s %s created; uploading %s (%s bytes)\n", *jobType, created.JobID, filepath.Base(pos[0]), humanCount(st.Size()))
		}
		s.warn(created.Warnings)
		answer, code, err := s.transfer(created.JobID, f, st.Size())
		if err != nil || code != exitDone {
			return code, err
		}
		var up struct {
			JobStatus string `json:"job_status"`
			Bytes     int64  `json:"bytes"`
			Records   *int64 `json:"records"`
		}
		_ = json.Unmarshal(answer, &up)
		if s.json && !*wait {
			s.printJSON(answer)
		} else if !s.json {
			recs := ""
			if up.Records != nil {
				recs = ", " + humanCount(*up.Records) + " records"
			}
			fmt.Fprintf(s.info, "uploaded %s bytes%s; job %s is %s\n", humanCount(up.Bytes), recs, created.JobID, up.JobStatus)
		}
		if !*wait {
			return exitDone, nil
		}
		code, _, err = s.waitJob(created.JobID)
		return code, err
	}, nil
}

// transfer streams the file into the job as a raw body, with a bar on a terminal. Ctrl-C
// stops the transfer; the job then is whatever the server made of the cut (see its status).
func (s *session) transfer(id string, f *os.File, size int64) ([]byte, int, error) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	stopped := make(chan struct{})
	defer close(stopped)
	interrupted := false
	var mu sync.Mutex
	go func() {
		select {
		case <-s.interrupts:
			mu.Lock()
			interrupted = true
			mu.Unlock()
			cancel()
		case <-stopped:
		}
	}()
	var body io.Reader = f
	bar := transferBar(s.stderr, s.tty && !s.json, size, filepath.Base(f.Name()))
	if bar != nil {
		r := progressbar.NewReader(f, bar)
		body = &r
	}
	q := url.Values{"job_id": {id}, "filename": {filepath.Base(f.Name())}}
	req, err := s.api.request(ctx, http.MethodPost, "/api/v1/upload/?"+q.Encode(), io.NopCloser(body))
	if err != nil {
		return nil, 0, err
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	ct := "text/csv"
	if ext := strings.ToLower(filepath.Ext(f.Name())); ext != ".csv" && ext != ".txt" {
		ct = "application/octet-stream"
	}
	req.Header.Set("Content-Type", ct)
	res, err := s.api.send(req)
	if bar != nil {
		_ = bar.Exit()
	}
	mu.Lock()
	wasInterrupted := interrupted
	mu.Unlock()
	if wasInterrupted {
		status := "unknown"
		if j, jerr := s.api.getJob(s.ctx, id, false); jerr == nil {
			status = j.JobStatus
		}
		fmt.Fprintf(s.stderr, "\ninterrupted: the upload stopped; job %s is %s (reins jobs get %s)\n", id, status, id)
		return nil, exitInterrupted, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return raw, exitDone, err
}

// waitJob follows the job to its end (status lines, a bar, or JSON lines). Ctrl-C asks
// what to do with the job. It returns the exit code and the last state seen.
func (s *session) waitJob(id string) (int, *job, error) {
	var jsonOut io.Writer
	if s.json {
		jsonOut = s.stdout
	}
	view := newJobView(s.stderr, s.tty, jsonOut)
	heldShown := false
	for {
		ctx, cancel := context.WithCancel(s.ctx)
		type result struct {
			j   *job
			err error
		}
		done := make(chan result, 1)
		go func() {
			j, err := s.api.follow(ctx, id, func(j *job) {
				if j.JobStatus == "AWAITING_CONFIRMATION" && !heldShown {
					heldShown = true
					view.stop()
					s.held(j)
				}
				view.show(j)
			})
			done <- result{j, err}
		}()
		var r result
		interrupted := false
		select {
		case r = <-done:
		case <-s.interrupts:
			interrupted = true
			cancel()
			r = <-done
		}
		cancel()
		view.stop()
		if !interrupted {
			if r.err != nil {
				return exitUsage, r.j, r.err
			}
			return s.finished(r.j), r.j, nil
		}
		if r.j != nil && r.j.terminal() {
			return s.finished(r.j), r.j, nil
		}
		code, again, err := s.interrupted(id, r.j)
		if !again {
			return code, r.j, err
		}
	}
}

// finished reports a job's end and returns the exit code for it.
func (s *session) finished(j *job) int {
	if !s.json {
		for i, e := range j.Errors {
			if i == 0 {
				fmt.Fprintf(s.stderr, "%s skipped", plural(j.Skipped, "row"))
				if int64(len(j.Errors)) < j.Skipped {
					fmt.Fprintf(s.stderr, " (the first %d listed)", len(j.Errors))
				}
				fmt.Fprintln(s.stderr, ":")
			}
			if e.Column != "" {
				fmt.Fprintf(s.stderr, "  line %d, column %s: %s\n", e.Line, e.Column, e.Reason)
			} else {
				fmt.Fprintf(s.stderr, "  line %d: %s\n", e.Line, e.Reason)
			}
		}
	}
	switch j.JobStatus {
	case "COMPLETED":
		if !s.json {
			skipped := ""
			if j.Skipped > 0 {
				skipped = ", " + humanCount(j.Skipped) + " skipped"
			}
			fmt.Fprintf(s.info, "%s %s COMPLETED: %s rows%s\n", j.JobType, j.JobID, humanCount(j.Progress.Done), skipped)
		}
		return exitDone
	case "FAILED":
		msg := ""
		if j.Error != nil {
			msg = ": " + *j.Error
		}
		fmt.Fprintf(s.stderr, "reins %s: job %s FAILED%s\n", s.name, j.JobID, msg)
	default:
		fmt.Fprintf(s.stderr, "reins %s: job %s was %s\n", s.name, j.JobID, j.JobStatus)
	}
	return exitJobFailed
}

// readLine reads one answer from a person at the terminal; a second Ctrl-C or the end of
// input answers "".
func (s *session) readLine() string {
	s.linesOnce.Do(func() { s.lines = bufio.NewReader(s.stdin) })
	got := make(chan string, 1)
	go func() {
		line, _ := s.lines.ReadString('\n')
		got <- strings.TrimSpace(strings.ToLower(line))
	}()
	select {
	case line := <-got:
		return line
	case <-s.interrupts:
		fmt.Fprintln(s.stderr)
		return ""
	case <-s.ctx.Done():
		return ""
	}
}

// interrupted handles Ctrl-C while waiting: a person chooses to pause, revoke, confirm (a
// held export) or leave the job running; without a terminal the job is left running.
// again says to go on waiting.
func (s *session) interrupted(id string, last *job) (code int, again bool, err error) {
	status := "running"
	if last != nil {
		status = last.JobStatus
	}
	leave := func() (int, bool, error) {
		fmt.Fprintf(s.stderr, "interrupted: job %s left %s on the server; follow it with: reins jobs watch %s\n", id, status, id)
		return exitInterrupted, false, nil
	}
	if !s.stdinTTY || !s.tty {
		return leave()
	}
	held := status == "AWAITING_CONFIRMATION"
	for {
		if held {
			fmt.Fprintf(s.stderr, "Job %s is %s. [c]onfirm it, [r]evoke it, or [l]eave it as it is? ", shortID(id), status)
		} else {
			fmt.Fprintf(s.stderr, "Job %s is %s. [p]ause it, [r]evoke it, or [l]eave it running? ", shortID(id), status)
		}
		var cmd string
		switch answer := s.readLine(); {
		case answer == "" || strings.HasPrefix(answer, "l"):
			return leave()
		case strings.HasPrefix(answer, "p") && !held:
			cmd = "PAUSE"
		case strings.HasPrefix(answer, "r"):
			cmd = "REVOKE"
		case strings.HasPrefix(answer, "c") && held:
			cmd = "CONFIRM"
		default:
			continue
		}
		j, err := s.api.command(s.ctx, id, cmd)
		if err != nil {
			return exitUsage, false, err
		}
		switch cmd {
		case "CONFIRM":
			fmt.Fprintf(s.stderr, "job %s confirmed; following it again\n", id)
			return 0, true, nil
		case "PAUSE":
			fmt.Fprintf(s.stderr, "job %s is %s at %s\n  resume it: reins jobs resume %s\n", id, j.JobStatus, progressText(j), id)
			return exitInterrupted, false, nil
		default:
			fmt.Fprintf(s.stderr, "job %s is %s: its work is rolled back\n", id, j.JobStatus)
			return exitJobFailed, false, nil
		}
	}
}

func (s *session) watchCmd(fs *flag.FlagSet) (func([]string) (int, error), error) {
	return func(pos []string) (int, error) {
		if err := wantArgs(pos, 1, "a job ID"); err != nil {
			return 0, err
		}
		code, _, err := s.waitJob(pos[0])
		return code, err
	}, nil
}

func (s *session) getCmd(fs *flag.FlagSet) (func([]string) (int, error), error) {
	return func(pos []string) (int, error) {
		if err := wantArgs(pos, 1, "a job ID"); err != nil {
			return 0, err
		}
		j, err := s.api.getJob(s.ctx, pos[0], true)
		if err != nil {
			return 0, err
		}
		if s.json {
			s.printJSON(j.Raw)
			return exitDone, nil
		}
		s.printDetail(j)
		return exitDone, nil
	}, nil
}

func (s *session) printDetail(j *job) {
	w := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(w, "%s\t%s\n", k, v) }
	row("id", j.JobID)
	row("type", j.JobType)
	row("status", j.JobStatus)
	row("progress", progressText(j))
	if r := j.Progress.RatePerS; r != nil && *r > 0 {
		row("rate", humanCount(int64(*r))+" rows/s")
	}
	if e := j.Progress.ETA; e != nil && !j.terminal() {
		row("eta", strconv.FormatFloat(*e, 'f', 0, 64)+"s")
	}
	if j.Skipped > 0 {
		row("skipped", humanCount(j.Skipped))
	}
	if j.EstimatedRows != nil {
		row("estimated rows", humanCount(*j.EstimatedRows))
	}
	if t := j.Transfer; t != nil {
		total := "?"
		if t.BytesTotal != nil {
			total = humanCount(*t.BytesTotal)
		}
		row("transfer", fmt.Sprintf("%s %s/%s bytes %s", t.State, humanCount(t.BytesReceived), total, t.FileName))
	}
	if j.Run != nil {
		row("worker", j.Run.Worker)
	}
	row("created", j.CreatedAt)
	if j.FinishedAt != nil {
		row("finished", *j.FinishedAt)
	}
	if j.Error != nil {
		row("error", *j.Error)
	}
	if j.Result != nil {
		row("result", s.api.base+j.Result.URL+"  (reins jobs download "+j.JobID+")")
	}
	_ = w.Flush()
	if len(j.History) > 0 {
		fmt.Fprintln(s.stdout, "\nhistory:")
		for _, e := range j.History {
			detail := ""
			if e.Detail != "" {
				detail = "  " + e.Detail
			}
			fmt.Fprintf(w, "  %s\t%s -> %s\t%s%s\n", e.At, e.From, e.To, e.Actor, detail)
		}
		_ = w.Flush()
	}
	for i, e := range j.Errors {
		if i == 0 {
			fmt.Fprintln(s.stdout, "\nrows skipped:")
		}
		fmt.Fprintf(s.stdout, "  line %d\t%s\t%s\n", e.Line, e.Column, e.Reason)
	}
}

func (s *session) commandCmd(cmd string) func(fs *flag.FlagSet) (func([]string) (int, error), error) {
	return func(fs *flag.FlagSet) (func([]string) (int, error), error) {
		return func(pos []string) (int, error) {
			if err := wantArgs(pos, 1, "a job ID"); err != nil {
				return 0, err
			}
			j, err := s.api.command(s.ctx, pos[0], cmd)
			if err != nil {
				return 0, err
			}
			if s.json {
				s.printJSON(j.Raw)
				return exitDone, nil
			}
			fmt.Fprintf(s.stdout, "job %s %s at %s\n", j.JobID, j.JobStatus, progressText(j))
			switch j.JobStatus {
			case "PAUSING":
				fmt.Fprintf(s.stderr, "the run has not stopped yet; `reins jobs watch %s` shows it reach PAUSED\n", j.JobID)
			case "REVOKING":
				fmt.Fprintf(s.stderr, "its work is being rolled back; `reins jobs watch %s` shows it reach REVOKED\n", j.JobID)
			}
			return exitDone, nil
		}, nil
	}
}

// shortTime shows an RFC 3339 time to the second, in UTC.
func shortTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// statusList collects --status, repeatable and comma-separated.
type statusList []string

func (l *statusList) String() string { return strings.Join(*l, ",") }
func (l *statusList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.ToUpper(strings.TrimSpace(s)); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func (s *session) listCmd(fs *flag.FlagSet) (func([]string) (int, error), error) {
	var statuses statusList
	fs.Var(&statuses, "status", "only jobs in this status (repeatable, or comma-separated)")
	jobType := fs.String("type", "", "only jobs of this type: export, import or teams")
	limit := fs.Int("limit", 50, "most jobs to list (1-1000)")
	cursor := fs.String("cursor", "", "continue a listing from its next_cursor")
	return func(pos []string) (int, error) {
		if err := wantArgs(pos, 0, "no arguments"); err != nil {
			return 0, err
		}
		var answer struct {
			Jobs       []json.RawMessage `json:"jobs"`
			NextCursor *string           `json:"next_cursor"`
		}
		raw, err := s.api.call(s.ctx, http.MethodGet, "/api/v1/jobs?"+listQuery(statuses, *jobType, *limit, *cursor), nil, "", &answer)
		if err != nil {
			return 0, err
		}
		var jobs []*job
		for _, r := range answer.Jobs {
			j, err := decodeJob(r)
			if err != nil {
				return 0, &apiError{Status: http.StatusOK, Message: "a listed job: " + err.Error()}
			}
			// A server from before the listing filters ignores them; filter here as well.
			if (len(statuses) == 0 || slices.Contains(statuses, j.JobStatus)) && (*jobType == "" || j.JobType == *jobType) {
				jobs = append(jobs, j)
			}
		}
		if s.json {
			if len(jobs) == len(answer.Jobs) {
				s.printJSON(raw)
				return exitDone, nil
			}
			kept := make([]json.RawMessage, len(jobs))
			for i, j := range jobs {
				kept[i] = j.Raw
			}
			out, _ := json.Marshal(map[string]any{"jobs": kept, "next_cursor": answer.NextCursor})
			s.printJSON(out)
			return exitDone, nil
		}
		tty := isTerminal(s.stdout)
		var w io.Writer = s.stdout
		var tw *tabwriter.Writer
		if tty {
			tw = tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
			w = tw
		}
		fmt.Fprintln(w, "ID\tTYPE\tSTATUS\tPROGRESS\tRATE\tCREATED")
		for _, j := range jobs {
			rate := "-"
			if r := j.Progress.RatePerS; r != nil && *r > 0 {
				rate = humanCount(int64(*r)) + "/s"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", j.JobID, j.JobType, j.JobStatus, progressText(j), rate, shortTime(j.CreatedAt))
		}
		if tw != nil {
			_ = tw.Flush()
		}
		if answer.NextCursor != nil && *answer.NextCursor != "" {
			fmt.Fprintf(s.stderr, "more: reins jobs list --cursor %s\n", *answer.NextCursor)
		}
		return exitDone, nil
	}, nil
}

func (s *session) downloadCmd(fs *flag.FlagSet) (func([]string) (int, error), error) {
	out := fs.String("out", "", "write the file here (- for stdout); default: the server's file name in the current directory")
	return func(pos []string) (int, error) {
		if err := wantArgs(pos, 1, "a job ID"); err != nil {
			return 0, err
		}
		if *out == "-" {
			s.info = s.stderr
		}
		return s.download(pos[0], *out, *out != "")
	}, nil
}

// download writes a finished job's result to out ("-" for stdout, "" for the server's file
// name). The file appears whole or not at all: it is written next to its name and renamed.
func (s *session) download(id, out string, overwrite bool) (int, error) {
	req, err := s.api.request(s.ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id)+"/result", nil)
	if err != nil {
		return 0, err
	}
	res, err := s.api.send(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if out == "-" {
		_, err := whole(res)(io.Copy(s.stdout, res.Body))
		return exitDone, err
	}
	if out == "" {
		if _, params, err := mime.ParseMediaType(res.Header.Get("Content-Disposition")); err == nil {
			out = filepath.Base(params["filename"])
		}
		if out == "" || out == "." || out == "/" {
			out = id + ".csv"
		}
	}
	if !overwrite {
		if _, err := os.Stat(out); err == nil {
			return 0, usagef("%s exists; name another file with --out", out)
		}
	}
	n, err := writeOut(out, res)
	if err != nil {
		return 0, err
	}
	if s.json {
		b, _ := json.Marshal(map[string]any{"job_id": id, "file": out, "bytes": n})
		s.printJSON(b)
	} else {
		fmt.Fprintf(s.info, "wrote %s (%s bytes)\n", out, humanCount(n))
	}
	return exitDone, nil
}

// writeOut writes the answer's body to the file out: into a temporary file renamed over out
// once whole, so a cut download leaves no half file, or straight into out when it exists and
// is not a regular file (/dev/null, a pipe, a terminal), which a rename would replace.
func writeOut(out string, res *http.Response) (int64, error) {
	check := whole(res)
	if fi, err := os.Stat(out); err == nil && !fi.Mode().IsRegular() {
		f, err := os.OpenFile(out, os.O_WRONLY, 0)
		if err != nil {
			return 0, err
		}
		n, err := check(io.Copy(f, res.Body))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return n, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".part-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	n, err := check(io.Copy(tmp, res.Body))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	return n, err
}

// whole returns a check of a copy of res's body: an error when fewer bytes came than the
// answer announced.
func whole(res *http.Response) func(n int64, err error) (int64, error) {
	return func(n int64, err error) (int64, error) {
		if err == nil && res.ContentLength >= 0 && n != res.ContentLength {
			err = fmt.Errorf("download cut short: %d of %d bytes", n, res.ContentLength)
		}
		return n, err
	}
}
