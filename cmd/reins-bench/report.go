package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// row is one line of the results table.
type row struct {
	figure, reins, baseline, ratio, target, pass string
}

// report collects the table, the notes under it and whether a correctness check failed.
type report struct {
	env       []string
	rows      []row
	notes     []string
	incorrect bool
}

func (r *report) add(x row) { r.rows = append(r.rows, x) }

func (r *report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// check marks a correctness check: a failed one makes the benchmark exit non-zero.
func (r *report) check(ok bool) string {
	if !ok {
		r.incorrect = true
		return "**FAILED**"
	}
	return "yes"
}

// sameRows adds the row of a check that a result holds exactly the baseline's n rows.
func (r *report) sameRows(figure string, n int64, ok bool) {
	rows := fmt.Sprintf("%s rows", count(n))
	r.add(row{figure: figure, reins: rows, baseline: rows, ratio: "–", target: "same rows", pass: r.check(ok)})
}

func passMark(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// print writes the environment, the table (Markdown) and the notes.
func (r *report) print(w io.Writer) {
	fmt.Fprintln(w)
	for _, e := range r.env {
		fmt.Fprintf(w, "%s  \n", e)
	}
	fmt.Fprintf(w, "load average at the end %s  \n", loadAvg())
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| figure | Reins | baseline | ratio | target | pass |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---|")
	for _, x := range r.rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", x.figure, x.reins, x.baseline, x.ratio, x.target, x.pass)
	}
	if len(r.notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// environment describes the machine and the run, for the report's head.
func environment(o options) []string {
	batch, workers := "default", "default"
	if o.batchSize > 0 {
		batch = fmt.Sprint(o.batchSize)
	}
	if o.workers > 0 {
		workers = fmt.Sprint(o.workers)
	}
	host, _ := os.Hostname()
	env := []string{
		fmt.Sprintf("reins-bench %s: --rows %s, --batch-size %s, --workers %s, --repeat %d, %s",
			time.Now().UTC().Format("2006-01-02 15:04 MST"), count(o.rows), batch, workers, o.repeat, runtime.Version()),
		fmt.Sprintf("machine %s: %d CPUs (GOMAXPROCS %d), %s; load average at start %s", host, runtime.NumCPU(), runtime.GOMAXPROCS(0), memTotal(), loadAvg()),
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit := "commit " + strings.TrimSpace(string(out))
		if dirty, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(dirty) > 0 {
			commit += " plus uncommitted changes"
		}
		env = append(env, commit)
	}
	return env
}

func memTotal() string {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "memory unknown"
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(v), &kb)
			return fmt.Sprintf("%.1f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return "memory unknown"
}

// notePhaseRSS records the server's memory after a phase: the peak so far (VmHWM, kept
// across the figures' resets) only grows, so the phase that raised it shows.
func (b *bench) notePhaseRSS(phase string) {
	if b.srv == nil {
		return
	}
	rss, _, err := b.srv.memory()
	if err != nil {
		b.logf("memory after %s: %v", phase, err)
		return
	}
	peak, _ := b.srv.peakEver()
	b.rssByPhase = append(b.rssByPhase, fmt.Sprintf("after %s %s MB (now %s MB)", phase, mb(peak), mb(rss)))
	b.loadByPhase = append(b.loadByPhase, fmt.Sprintf("%s %s", phase, loadAvg()))
	b.logf("server memory after %s: peak %s MB, now %s MB; load average %s", phase, mb(peak), mb(rss), loadAvg())
}

// benchMemory is the server's peak RSS over the whole run (across the per-figure resets).
func (b *bench) benchMemory() error {
	if err := b.srv.alive(); err != nil {
		return err
	}
	peak, err := b.srv.peakEver()
	if err != nil {
		return err
	}
	b.report.add(row{
		figure:   "peak RSS of `reins serve` over the whole run (VmHWM)",
		reins:    mb(peak) + " MB",
		baseline: "–",
		ratio:    "–",
		target:   "≤ 250 MB",
		pass:     passMark(peak <= 250<<20),
	})
	b.report.note("server peak RSS (VmHWM) by phase: %s", strings.Join(b.rssByPhase, "; "))
	b.report.note("load average (1, 5, 15 min) after each phase, for a shared machine: %s", strings.Join(b.loadByPhase, "; "))
	return nil
}

// Formatting.

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func millis(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func durations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	inMillis := slices.Max(append([]time.Duration{0}, ds...)) < time.Second
	for i, d := range ds {
		if inMillis {
			parts[i] = fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
		} else {
			parts[i] = fmt.Sprintf("%.3f", d.Seconds())
		}
	}
	if inMillis {
		return "[" + strings.Join(parts, ", ") + "] ms"
	}
	return "[" + strings.Join(parts, ", ") + "] s"
}

func mb(bytes int64) string { return fmt.Sprintf("%.1f", float64(bytes)/(1<<20)) }

// count formats n with thin thousands separators: 1,000,000.
func count(n int64) string {
	s := fmt.Sprint(n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
