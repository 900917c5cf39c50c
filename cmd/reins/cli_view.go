package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// isTerminal reports whether f is a terminal (a file that is not one, or a buffer, is not).
func isTerminal(f any) bool {
	fd, ok := f.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(fd.Fd()))
}

// termWidth is the width of the terminal f, or 80.
func termWidth(f any) int {
	if fd, ok := f.(interface{ Fd() uintptr }); ok {
		if w, _, err := term.GetSize(int(fd.Fd())); err == nil && w > 0 {
			return w
		}
	}
	return 80
}

// jobView shows a job as it moves: a live bar on a terminal, one plain line per change
// otherwise, or one JSON object per line with --json (on stdout, for scripts).
type jobView struct {
	w       io.Writer // where bars and lines go (stderr)
	jsonOut io.Writer // non-nil with --json: where JSON lines go
	tty     bool
	width   int

	bar        *progressbar.ProgressBar // nil or the live bar; only show and stop touch it
	barMax     int64
	lastLine   string
	lastStatus string
}

func newJobView(w io.Writer, tty bool, jsonOut io.Writer) *jobView {
	return &jobView{w: w, tty: tty, jsonOut: jsonOut, width: termWidth(w)}
}

// show renders the job's latest state.
func (v *jobView) show(j *job) {
	if v.jsonOut != nil {
		fmt.Fprintf(v.jsonOut, "%s\n", compactJSON(j.Raw))
		return
	}
	if !v.tty {
		line := plainLine(j)
		if line != v.lastLine {
			fmt.Fprintln(v.w, line)
			v.lastLine = line
		}
		return
	}
	pos := j.Progress.Done + j.Skipped
	changed := j.JobStatus != v.lastStatus
	v.lastStatus = j.JobStatus
	if j.Progress.Total == nil {
		// No total yet (a job not started, an upload still arriving): a line per status.
		if changed {
			v.stop()
			fmt.Fprintf(v.w, "%s %s %s\n", j.JobType, shortID(j.JobID), barDetail(j))
		}
		return
	}
	total := *j.Progress.Total
	if changed || total != v.barMax {
		// A new bar per status: the finished line above shows where the last one ended.
		v.stop()
		v.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(v.w),
			progressbar.OptionSetDescription(barDetail(j)),
			progressbar.OptionSetWidth(max(10, min(30, v.width-66))),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionUseANSICodes(true),
			progressbar.OptionSetTheme(progressbar.ThemeDefault),
		)
		v.barMax = total
	} else {
		v.bar.Describe(barDetail(j))
	}
	_ = v.bar.Set64(min(pos, total))
	if j.JobStatus == "COMPLETED" {
		_ = v.bar.Finish()
	}
}

// stop ends the live bar so that other text can follow on a clean line.
func (v *jobView) stop() {
	if v.bar != nil {
		_ = v.bar.Exit()
		fmt.Fprintln(v.w)
		v.bar = nil
	}
}

// barDetail is the text after the bar: status, rate, ETA, skipped rows.
func barDetail(j *job) string {
	parts := []string{j.JobStatus}
	if r := j.Progress.RatePerS; r != nil && *r > 0 {
		parts = append(parts, humanCount(int64(*r))+" rows/s")
	}
	if e := j.Progress.ETA; e != nil && !j.terminal() {
		parts = append(parts, "ETA "+(time.Duration(*e)*time.Second).String())
	}
	if j.Skipped > 0 {
		parts = append(parts, humanCount(j.Skipped)+" skipped")
	}
	return strings.Join(parts, ", ")
}

// plainLine is one job state as a line for logs: time, id, type, status, progress.
func plainLine(j *job) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s job %s %s %s", time.Now().UTC().Format("15:04:05"), j.JobID, j.JobType, j.JobStatus)
	fmt.Fprintf(&b, " %s", progressText(j))
	if r := j.Progress.RatePerS; r != nil && *r > 0 {
		fmt.Fprintf(&b, " %d rows/s", int64(*r))
	}
	if j.Skipped > 0 {
		fmt.Fprintf(&b, ", %d skipped", j.Skipped)
	}
	if j.Error != nil && *j.Error != "" {
		fmt.Fprintf(&b, " error: %s", *j.Error)
	}
	return b.String()
}

// progressText is "done/total (pct%)" counting skipped rows as done, or "done" alone.
func progressText(j *job) string {
	done := j.Progress.Done + j.Skipped
	if j.Progress.Total == nil {
		return strconv.FormatInt(done, 10)
	}
	s := strconv.FormatInt(done, 10) + "/" + strconv.FormatInt(*j.Progress.Total, 10)
	if j.Progress.Percent != nil {
		s += " (" + strconv.FormatFloat(*j.Progress.Percent, 'f', 1, 64) + "%)"
	}
	return s
}

// humanCount writes n with thousands separators.
func humanCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// compactJSON returns raw on one line (the API's JSON already is; events are too).
func compactJSON(raw []byte) string {
	return strings.ReplaceAll(strings.TrimSpace(string(raw)), "\n", " ")
}

// transferBar returns a writer-side bar for an upload of size bytes on a terminal, or nil.
func transferBar(w io.Writer, tty bool, size int64, name string) *progressbar.ProgressBar {
	if !tty {
		return nil
	}
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("upload "+name),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(max(10, min(40, termWidth(w)-60))),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionUseANSICodes(true),
		progressbar.OptionSetTheme(progressbar.ThemeDefault),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}
