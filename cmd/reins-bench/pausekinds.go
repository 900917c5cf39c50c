package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// pauseKind collects the PAUSEs of one kind of moment.
type pauseKind struct {
	name      string
	lats      []time.Duration
	notPaused int
	moved     int
	missed    int // PAUSEs that found the job already COMPLETED: not counted
}

// jobState is what must not move once a PAUSE is answered PAUSED: the job's done counter,
// the bytes of its files in the data dir (the export's parts, the upload's spool), the
// bytes the transfer received, and the rows the job has in customers (imports).
type jobState struct {
	status   string
	done     int64
	files    int64
	received int64
	rows     int64
}

func (s jobState) String() string {
	return fmt.Sprintf("%s done %d, file bytes %d, received %d, rows %d", s.status, s.done, s.files, s.received, s.rows)
}

// state reads a job's jobState; rows only for imports.
func (b *bench) state(ctx context.Context, id string, imp bool) (jobState, error) {
	st, err := b.api.status(ctx, id)
	if err != nil {
		return jobState{}, err
	}
	s := jobState{status: st.JobStatus, done: st.Progress.Done}
	if st.Transfer != nil {
		s.received = st.Transfer.BytesReceived
	}
	dir := filepath.Join(b.dataDir, "files", "exports", id)
	if imp {
		dir = filepath.Join(b.dataDir, "files", "uploads", id)
		if err := b.db.QueryRow(ctx, "SELECT count(*) FROM customers WHERE job_id = $1", id).Scan(&s.rows); err != nil {
			return s, err
		}
	}
	if s.files, err = dirBytes(dir); err != nil {
		return s, err
	}
	return s, nil
}

// probe sends PAUSE, times the whole request, and checks that the answer is PAUSED and
// that nothing moves in the 200 ms after it. It returns false when the job had completed
// before the PAUSE (not counted).
func (b *bench) probe(ctx context.Context, k *pauseKind, id string, imp bool) (bool, error) {
	t0 := time.Now()
	ans, err := b.api.command(ctx, id, "PAUSE")
	lat := time.Since(t0)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == 400 && strings.Contains(ae.Message, "COMPLETED") {
			k.missed++
			return false, nil
		}
		return false, fmt.Errorf("%s: PAUSE: %w", k.name, err)
	}
	if ans.JobStatus == "COMPLETED" {
		k.missed++
		return false, nil
	}
	k.lats = append(k.lats, lat)
	if ans.JobStatus != "PAUSED" {
		k.notPaused++
		b.logf("%s: PAUSE answered %s after %s, not PAUSED", k.name, ans.JobStatus, lat)
		if _, err = b.api.wait(ctx, id, 30*time.Second, "PAUSED", func(st jobStatus) bool { return st.JobStatus == "PAUSED" }); err != nil {
			return false, fmt.Errorf("%s: %w", k.name, err)
		}
	}
	at, err := b.state(ctx, id, imp)
	if err != nil {
		return false, err
	}
	if ans.JobStatus == "PAUSED" && at.done != ans.Progress.Done {
		at.done = ans.Progress.Done // the answer's own counter is the one that must hold
	}
	if err := sleep(ctx, 200*time.Millisecond); err != nil {
		return false, err
	}
	after, err := b.state(ctx, id, imp)
	if err != nil {
		return false, err
	}
	if after.status != "PAUSED" || after.done != at.done || after.files > at.files || after.received != at.received || after.rows != at.rows {
		k.moved++
		b.logf("%s: MOVED after PAUSED: %s → %s", k.name, at, after)
	}
	return true, nil
}

func dirBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) {
			return nil // not there yet, or a part deleted as we walk
		}
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	return total, err
}

// waitMoved waits until the job's done counter passes after (or the job completes), and
// reports whether it is still running.
func (b *bench) waitMoved(ctx context.Context, id string, after int64) (bool, error) {
	st, err := b.api.wait(ctx, id, b.opts.jobTimeout, "progress", func(st jobStatus) bool {
		return st.Progress.Done > after && st.JobStatus != "PAUSED"
	})
	if st.JobStatus == "COMPLETED" {
		return false, nil
	}
	return err == nil, err
}

// jitter is a random duration in [0, d).
func jitter(rng *rand.Rand, d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rng.Int64N(int64(d)))
}

// benchPauseLatency is the PAUSE figure: --cycles PAUSEs at random moments of each of five
// kinds, on exports and imports. Each must be answered PAUSED, and nothing may move in the
// 200 ms after the answer (jobState).
func (b *bench) benchPauseLatency(ctx context.Context) error {
	rng := rand.New(rand.NewPCG(11, uint64(b.opts.rows)))
	kinds := []*pauseKind{
		{name: "export, unthrottled (mid-batch)"},
		{name: "export, throttled (mostly in a throttle wait)"},
		{name: "export, within 0.3 s of a RESUME's answer"},
		{name: "import, during the upload transfer"},
		{name: "import, processing the file"},
	}
	if err := b.pauseExports(ctx, rng, kinds[0], kinds[1], kinds[2]); err != nil {
		return err
	}
	if !b.opts.skipImport {
		if err := b.pauseImports(ctx, rng, kinds[3], kinds[4]); err != nil {
			return err
		}
	} else {
		kinds = kinds[:3]
	}
	var all []time.Duration
	var notPaused, moved, missed int
	for _, k := range kinds {
		all = append(all, k.lats...)
		notPaused, moved, missed = notPaused+k.notPaused, moved+k.moved, missed+k.missed
		slices.Sort(k.lats)
		if len(k.lats) == 0 {
			// A job so small that it completes between two polls: nothing to measure.
			b.report.add(row{
				figure: fmt.Sprintf("PAUSE at a random moment: %s", k.name),
				reins:  "no PAUSE landed on a running job (use more --rows)", baseline: "–", ratio: "–",
				target: "p99 ≤ 50 ms", pass: passMark(false),
			})
			b.report.note("pause, %s: none landed%s", k.name, missedNote(k.missed))
			continue
		}
		p99 := percentile(k.lats, 99)
		b.report.add(row{
			figure:   fmt.Sprintf("PAUSE at a random moment: %s (p50 / p99 / max of %d; %d/%d PAUSED, %d moved)", k.name, len(k.lats), len(k.lats)-k.notPaused, len(k.lats), k.moved),
			reins:    spread(k.lats, 99),
			baseline: "–", ratio: "–", target: "p99 ≤ 50 ms",
			pass: passMark(p99 <= 50*time.Millisecond),
		})
		b.report.note("pause, %s: all PAUSE times %s%s", k.name, durations(k.lats), missedNote(k.missed))
	}
	if len(all) == 0 {
		return errors.New("no PAUSE of any kind landed on a running job")
	}
	slices.Sort(all)
	p99 := percentile(all, 99)
	b.report.add(row{
		figure:   fmt.Sprintf("PAUSE at a random moment, all %d kinds together (p50 / p99 / max of %d; target %d of each)", len(kinds), len(all), b.opts.cycles),
		reins:    spread(all, 99),
		baseline: "–", ratio: "–", target: "p99 ≤ 50 ms",
		pass: passMark(p99 <= 50*time.Millisecond),
	})
	b.report.add(row{
		figure:   "PAUSE answered PAUSED, and nothing moved in the 200 ms after (done, files, bytes received, rows)",
		reins:    fmt.Sprintf("%d/%d PAUSED, %d moved", len(all)-notPaused, len(all), moved),
		baseline: "–", ratio: "–", target: "all PAUSED, 0 moved",
		pass: b.report.check(notPaused == 0 && moved == 0),
	})
	b.report.note("pause: each PAUSE's time is the whole HTTP request; unthrottled kinds PAUSE 0–50 ms after the job is seen moving, the throttled export (%d rows/s) 0–250 ms after, the RESUME kind 0–300 ms after the RESUME's answer, the transfer (a client sending about 2 s of file per cycle) 0–100 ms after bytes arrive; \"moved\" compares the job's done, its files' bytes on disk, the transfer's bytes received and its rows in customers at the answer and 200 ms later",
		throttleRate(b.opts.rows))
	return nil
}

func missedNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d more PAUSEs found the job COMPLETED and are not counted", n)
}

// throttleRate runs a throttled export of all rows for about 40 s.
func throttleRate(rows int64) int { return int(max(1, rows/40)) }

// pauseExports runs the three export kinds: an unthrottled export paused mid-batch
// (restarted when it completes), then a throttled one paused at random points of the
// throttle's rhythm, and the same one paused right after its RESUMEs.
func (b *bench) pauseExports(ctx context.Context, rng *rand.Rand, mid, throttled, quick *pauseKind) error {
	start := func(ctx context.Context) (string, error) { return b.api.export(ctx, 0) }
	if err := b.pauseRunning(ctx, rng, mid, "", false, start); err != nil {
		return err
	}

	id, err := b.api.export(ctx, throttleRate(b.opts.rows))
	if err != nil {
		return err
	}
	if _, err := b.waitMoved(ctx, id, 0); err != nil {
		return err
	}
	for _, k := range []*pauseKind{throttled, quick} {
		for i := 0; i < b.opts.cycles; i++ {
			counted, err := b.probe(ctx, k, id, false)
			if err != nil {
				return err
			}
			if !counted {
				return fmt.Errorf("%s: the throttled export completed; use more --rows", k.name)
			}
			st, err := b.api.command(ctx, id, "RESUME")
			if err != nil {
				return fmt.Errorf("%s: RESUME: %w", k.name, err)
			}
			if k == quick {
				if err := sleep(ctx, jitter(rng, 300*time.Millisecond)); err != nil {
					return err
				}
				continue
			}
			if _, err := b.waitMoved(ctx, id, st.Progress.Done); err != nil {
				return err
			}
			if err := sleep(ctx, jitter(rng, 250*time.Millisecond)); err != nil {
				return err
			}
		}
	}
	return b.revoke(ctx, id)
}

// pauseImports runs the two import kinds: an upload from a slow client paused during its
// transfer, then the same import (and fresh ones when it completes) paused while it
// processes the file. The imported rows are removed at the end.
func (b *bench) pauseImports(ctx context.Context, rng *rand.Rand, transfer, processing *pauseKind) error {
	path := filepath.Join(b.tmp, "pause-import.csv")
	size, err := writeImportCSV(path, b.opts.rows)
	if err != nil {
		return fmt.Errorf("write the import file: %w", err)
	}
	defer os.Remove(path)
	var maxID int64
	if err := b.db.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM customers").Scan(&maxID); err != nil {
		return err
	}
	// The client sends the file in about 2 s per cycle, so each cycle's PAUSE finds the
	// transfer under way.
	pace := &pacer{rate: max(1, size/int64(2*b.opts.cycles))}
	id, err := b.api.newImport(ctx, 0)
	if err != nil {
		return err
	}
	uploaded := make(chan error, 1)
	go func() { uploaded <- b.api.uploadPaced(ctx, id, path, b.opts.jobTimeout, pace) }()
	receivedSince := func(after int64) error {
		_, err := b.api.wait(ctx, id, 30*time.Second, "bytes received", func(st jobStatus) bool {
			return st.Transfer != nil && st.Transfer.State == "receiving" && st.Transfer.BytesReceived > after
		})
		return err
	}
	if err := receivedSince(0); err != nil {
		return err
	}
	for range b.opts.cycles {
		if err := sleep(ctx, jitter(rng, 100*time.Millisecond)); err != nil {
			return err
		}
		counted, err := b.probe(ctx, transfer, id, true)
		if err != nil {
			return err
		}
		if !counted {
			break
		}
		if _, err := b.api.command(ctx, id, "RESUME"); err != nil {
			return fmt.Errorf("%s: RESUME: %w", transfer.name, err)
		}
		st, err := b.api.status(ctx, id) // a command's answer names no transfer
		if err != nil {
			return err
		}
		if st.Transfer == nil || st.Transfer.State == "complete" {
			b.logf("%s: the transfer completed after %d PAUSEs", transfer.name, len(transfer.lats))
			break
		}
		if err := receivedSince(st.Transfer.BytesReceived); err != nil {
			return fmt.Errorf("%s: %w", transfer.name, err)
		}
	}
	pace.released.Store(true)
	if err := <-uploaded; err != nil {
		return fmt.Errorf("%s: upload: %w", transfer.name, err)
	}

	start := func(ctx context.Context) (string, error) {
		id, err := b.api.newImport(ctx, 0)
		if err != nil {
			return "", err
		}
		if err := b.api.upload(ctx, id, path, b.opts.jobTimeout); err != nil {
			return "", fmt.Errorf("upload: %w", err)
		}
		return id, nil
	}
	if err := b.pauseRunning(ctx, rng, processing, id, true, start); err != nil {
		return err
	}
	return b.removeImported(ctx, maxID, -1)
}

// pauseRunning PAUSEs a job of k's kind --cycles times, each 0-50 ms after it is seen
// moving, probes that nothing moves, and RESUMEs it; id is a job already started ("" for
// none), and start starts another whenever the last one completed. The job still running at
// the end is revoked.
func (b *bench) pauseRunning(ctx context.Context, rng *rand.Rand, k *pauseKind, id string, imp bool,
	start func(context.Context) (string, error)) error {
	running := false
	if id != "" {
		var err error
		if running, err = b.waitMoved(ctx, id, 0); err != nil {
			return err
		}
	}
	for attempts := 0; len(k.lats) < b.opts.cycles; attempts++ {
		if attempts > 10*b.opts.cycles {
			b.logf("%s: only %d of %d PAUSEs landed on a running job", k.name, len(k.lats), b.opts.cycles)
			break
		}
		if !running {
			var err error
			if id, err = start(ctx); err != nil {
				return err
			}
			if running, err = b.waitMoved(ctx, id, 0); err != nil {
				return err
			}
			if !running {
				continue
			}
		}
		if err := sleep(ctx, jitter(rng, 50*time.Millisecond)); err != nil {
			return err
		}
		counted, err := b.probe(ctx, k, id, imp)
		if err != nil {
			return err
		}
		if !counted {
			running = false
			continue
		}
		st, err := b.api.command(ctx, id, "RESUME")
		if err != nil {
			return fmt.Errorf("%s: RESUME: %w", k.name, err)
		}
		if running, err = b.waitMoved(ctx, id, st.Progress.Done); err != nil {
			return err
		}
	}
	if running {
		return b.revoke(ctx, id)
	}
	return nil
}

// revoke revokes a job and waits until its rollback is done. A job that completed first
// is left as it is.
func (b *bench) revoke(ctx context.Context, id string) error {
	if _, err := b.api.command(ctx, id, "REVOKE"); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == 400 && strings.Contains(ae.Message, "COMPLETED") {
			return nil
		}
		return fmt.Errorf("REVOKE %s: %w", id, err)
	}
	_, err := b.api.wait(ctx, id, b.opts.jobTimeout, "REVOKED", func(st jobStatus) bool { return st.JobStatus == "REVOKED" })
	return err
}
