package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"
)

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// exportBytes is the size of every file of the export in the server's data dir: it must
// not grow once a PAUSE is answered.
func (b *bench) exportBytes(id string) (int64, error) {
	var total int64
	err := filepath.WalkDir(filepath.Join(b.dataDir, "files", "exports", id), func(_ string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a part deleted as we walk
		}
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
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

// benchPauseLatency is figure 3: PAUSE on a running (throttled) export, --cycles times.
// Each PAUSE must be answered PAUSED, and neither the job's done counter nor its files may
// move in the 200 ms after the answer.
func (b *bench) benchPauseLatency(ctx context.Context) error {
	// Throttled to run 40 s unpaused: the cycles take about half of that.
	rate := int(max(1, b.opts.rows/40))
	id, err := b.api.export(ctx, rate)
	if err != nil {
		return err
	}
	b.logf("throttled export %s at %d rows/s", id, rate)
	if _, err := b.api.wait(ctx, id, 30*time.Second, "progress", func(st jobStatus) bool { return st.Progress.Done > 0 }); err != nil {
		return err
	}
	var lats, resumes []time.Duration
	var notPaused, moved, quick int
	for i := range b.opts.cycles {
		t0 := time.Now()
		ans, err := b.api.command(ctx, id, "PAUSE")
		lat := time.Since(t0)
		if err != nil {
			return fmt.Errorf("cycle %d: PAUSE: %w", i+1, err)
		}
		lats = append(lats, lat)
		if ans.JobStatus != "PAUSED" {
			notPaused++
			b.logf("cycle %d: PAUSE answered %s after %s, not PAUSED", i+1, ans.JobStatus, lat)
			if ans, err = b.api.wait(ctx, id, 30*time.Second, "PAUSED", func(st jobStatus) bool { return st.JobStatus == "PAUSED" }); err != nil {
				return fmt.Errorf("cycle %d: %w", i+1, err)
			}
		}
		doneAt := ans.Progress.Done
		bytesAt, err := b.exportBytes(id)
		if err != nil {
			return err
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
		st, err := b.api.status(ctx, id)
		if err != nil {
			return err
		}
		bytesAfter, err := b.exportBytes(id)
		if err != nil {
			return err
		}
		if st.JobStatus != "PAUSED" || st.Progress.Done != doneAt || bytesAfter > bytesAt {
			moved++
			b.logf("cycle %d: MOVED after PAUSED: status %s, done %d → %d, file bytes %d → %d",
				i+1, st.JobStatus, doneAt, st.Progress.Done, bytesAt, bytesAfter)
		}
		t1 := time.Now()
		if _, err := b.api.command(ctx, id, "RESUME"); err != nil {
			return fmt.Errorf("cycle %d: RESUME: %w", i+1, err)
		}
		if i%3 == 2 {
			// Every third PAUSE comes right on the RESUME's answer, before its run has
			// (likely) claimed the job.
			quick++
			continue
		}
		if _, err := b.api.wait(ctx, id, 30*time.Second, "progress after RESUME", func(st jobStatus) bool {
			return st.Progress.Done > doneAt
		}); err != nil {
			return fmt.Errorf("cycle %d: %w", i+1, err)
		}
		resumes = append(resumes, time.Since(t1))
		// Land the next PAUSE at a different point of the throttle's rhythm (4 batches a
		// second): in a batch, or in the sleep between two.
		if err := sleep(ctx, time.Duration(50+(i*73)%250)*time.Millisecond); err != nil {
			return err
		}
	}
	if _, err := b.api.command(ctx, id, "REVOKE"); err != nil {
		return fmt.Errorf("REVOKE the throttled export: %w", err)
	}
	if _, err := b.api.wait(ctx, id, b.opts.jobTimeout, "REVOKED", func(st jobStatus) bool { return st.JobStatus == "REVOKED" }); err != nil {
		return err
	}

	slices.Sort(lats)
	p50, p99, worst := percentile(lats, 50), percentile(lats, 99), lats[len(lats)-1]
	b.report.add(row{
		figure:   fmt.Sprintf("PAUSE on a running export, answered (p50 / p99 / max of %d; %d of them right on a RESUME's answer)", len(lats), quick),
		reins:    fmt.Sprintf("%s / %s / %s", millis(p50), millis(p99), millis(worst)),
		baseline: "–",
		ratio:    "–",
		target:   "p99 ≤ 50 ms",
		pass:     passMark(p99 <= 50*time.Millisecond),
	})
	b.report.add(row{
		figure:   "PAUSE answered PAUSED, and nothing moved in the 200 ms after",
		reins:    fmt.Sprintf("%d/%d PAUSED, %d moved", len(lats)-notPaused, len(lats), moved),
		baseline: "–",
		ratio:    "–",
		target:   "all PAUSED, 0 moved",
		pass:     b.report.check(notPaused == 0 && moved == 0),
	})
	slices.Sort(resumes)
	b.report.note("pause latency: export throttled to %d rows/s (batches of at most %d rows, 4 a second); each PAUSE's time is the whole HTTP request; \"moved\" compares the job's done counter and the export's bytes on disk at the answer and 200 ms later; all PAUSE times: %s; RESUME request → the next committed batch seen (10 ms polls): p50 %s, max %s",
		rate, max(1, rate/4), durations(lats), millis(percentile(resumes, 50)), millis(resumes[len(resumes)-1]))
	return nil
}

// pausedExport runs an unthrottled export with cycles PAUSE/RESUME cycles spread evenly
// through it: cycle k starts at the first poll (every 10 ms, as a plain export's wait polls)
// that sees k/(cycles+1) of the rows done. Each cycle is held PAUSED for hold. It returns
// the job, its time from the request to COMPLETED, the time spent paused (from each PAUSED
// answer to its RESUME request), and the cycles it got through before the export completed.
func (b *bench) pausedExport(ctx context.Context, cycles int, hold time.Duration, reqs *cycleTimes) (id string, total, paused time.Duration, done int, err error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.jobTimeout)
	defer cancel()
	start := time.Now()
	if id, err = b.api.export(ctx, 0); err != nil {
		return "", 0, 0, 0, err
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		st, err := b.api.status(ctx, id)
		if err != nil {
			return id, 0, 0, done, err
		}
		if st.JobStatus == "COMPLETED" {
			total = time.Since(start)
			if st.Progress.Done != b.opts.rows {
				return id, 0, 0, done, fmt.Errorf("paused export %s COMPLETED with done %d, want %d", id, st.Progress.Done, b.opts.rows)
			}
			return id, total, paused, done, nil
		}
		if st.JobStatus == "FAILED" || st.JobStatus == "REVOKED" {
			return id, 0, 0, done, fmt.Errorf("paused export %s ended %s", id, st.JobStatus)
		}
		if k := done + 1; k <= cycles && st.Progress.Done >= b.opts.rows*int64(k)/int64(cycles+1) {
			t0 := time.Now()
			ans, err := b.api.command(ctx, id, "PAUSE")
			if err != nil {
				if st, serr := b.api.status(ctx, id); serr == nil && st.JobStatus == "COMPLETED" {
					cycles = done // it finished first: no more cycles
					continue
				}
				return id, 0, 0, done, fmt.Errorf("PAUSE %d: %w", k, err)
			}
			if ans.JobStatus == "COMPLETED" {
				cycles = done
				continue
			}
			if ans.JobStatus != "PAUSED" {
				return id, 0, 0, done, fmt.Errorf("PAUSE %d answered %s, not PAUSED", k, ans.JobStatus)
			}
			pausedAt := time.Now()
			reqs.pause = append(reqs.pause, pausedAt.Sub(t0))
			if err := sleep(ctx, hold); err != nil {
				return id, 0, 0, done, err
			}
			resumedAt := time.Now()
			if _, err := b.api.command(ctx, id, "RESUME"); err != nil {
				return id, 0, 0, done, fmt.Errorf("RESUME %d: %w", k, err)
			}
			paused += resumedAt.Sub(pausedAt)
			reqs.resume = append(reqs.resume, time.Since(resumedAt))
			done++
			continue
		}
		select {
		case <-ctx.Done():
			return id, 0, 0, done, fmt.Errorf("paused export %s: not COMPLETED within %s (last %s, done %d)", id, b.opts.jobTimeout, st.JobStatus, st.Progress.Done)
		case <-tick.C:
		}
	}
}

// benchPauseCost is figure 4: an unthrottled export interrupted by --cycles PAUSE/RESUME
// cycles against plain exports, alternating, --repeat times each; the time spent paused is
// subtracted. Every paused export's result must be byte-identical to COPY's.
func (b *bench) benchPauseCost(ctx context.Context) error {
	const hold = 20 * time.Millisecond
	var plains, actives []time.Duration
	var reqs cycleTimes
	var plainCPU, pausedCPU cpuLog
	identical, fewest := true, b.opts.cycles
	for i := range b.opts.repeat {
		c0 := b.cpu()
		_, plain, err := b.exportOnce(ctx)
		if err != nil {
			return err
		}
		plainCPU.add(b.cpu().sub(c0))
		c0 = b.cpu()
		plains = append(plains, plain)
		id, total, paused, cycles, err := b.pausedExport(ctx, b.opts.cycles, hold, &reqs)
		if err != nil {
			return err
		}
		pausedCPU.add(b.cpu().sub(c0))
		same, err := b.checkResult(ctx, id)
		if err != nil {
			return err
		}
		identical = identical && same
		fewest = min(fewest, cycles)
		actives = append(actives, total-paused)
		b.logf("pause/resume run %d: plain %s; with %d cycles %s, of which paused %s → working %s (%+.1f%%)",
			i+1, secs(plain), cycles, secs(total), secs(paused), secs(total-paused), 100*(ratio(total-paused, plain)-1))
	}
	plain, active := median(plains), median(actives)
	overhead := 100 * (ratio(active, plain) - 1)
	pass := passMark(overhead <= 5)
	if fewest < b.opts.cycles {
		pass += fmt.Sprintf(" (only %d cycles fitted)", fewest)
	}
	b.report.add(row{
		figure:   fmt.Sprintf("export %s rows with %d PAUSE/RESUME cycles, time paused excluded, vs unpaused", count(b.opts.rows), b.opts.cycles),
		reins:    secs(active),
		baseline: secs(plain),
		ratio:    fmt.Sprintf("%+.1f%%", overhead),
		target:   "≤ +5%",
		pass:     pass,
	})
	b.report.add(row{
		figure:   "paused export's result = COPY output (size and SHA-256)",
		reins:    fmt.Sprintf("%s B", count(b.exportSize)),
		baseline: fmt.Sprintf("%s B", count(b.exportSize)),
		ratio:    "–",
		target:   "byte-identical",
		pass:     b.report.check(identical),
	})
	slices.Sort(reqs.pause)
	slices.Sort(reqs.resume)
	b.report.note("pause/resume cost: %d alternating runs each, medians compared; the baseline is a plain Reins export run alongside (step 2's median was %s); each cycle is held PAUSED %s, and only that hold (PAUSED answer → RESUME request) is subtracted, so the PAUSE and RESUME requests count as cost; plain %s, working time with cycles %s; per cycle, PAUSE request p50 %s, RESUME request p50 %s; CPU used per run (median): plain: %s; with cycles: %s",
		b.opts.repeat, secs(b.plainExport), hold, durations(plains), durations(actives),
		millis(percentile(reqs.pause, 50)), millis(percentile(reqs.resume, 50)), &plainCPU, &pausedCPU)
	return nil
}

// cycleTimes collects how long the PAUSE and RESUME requests of the cycles took.
type cycleTimes struct{ pause, resume []time.Duration }

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 · n)
	return sorted[max(0, rank-1)]
}
