package main

import (
	"context"
	"fmt"
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

// pausedExport runs an unthrottled export with cycles PAUSE/RESUME cycles spread evenly
// through it: cycle k starts at the first poll of job-status (every pollEvery) that sees
// k/(cycles+1) of the rows done. Each cycle is held PAUSED for hold. It returns the job, its
// time from the request to the poll that saw it COMPLETED, the time spent paused (from each
// PAUSED answer to its RESUME request), and the cycles it got through before the export
// completed. With cycles 0 it is the cost figure's baseline: the same export, watched the
// same way.
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

// benchPauseCost is the pause/resume cost figure: an unthrottled export interrupted by --cycles PAUSE/RESUME
// cycles against plain exports, alternating, --repeat times each, both watched by polling
// job-status every pollEvery; the time spent paused is subtracted. Every paused export's
// result must hold exactly COPY's rows.
func (b *bench) benchPauseCost(ctx context.Context) error {
	const hold = 20 * time.Millisecond
	var plains, actives []time.Duration
	var reqs cycleTimes
	var plainCPU, pausedCPU cpuLog
	identical, fewest := true, b.opts.cycles
	for i := range b.opts.repeat {
		c0 := b.cpu()
		stop := b.profile(ctx, fmt.Sprintf("pause-plain-run%d", i+1))
		// Watched as the cycled export is (its polls cost the server, and the poll that sees
		// COMPLETED comes up to pollEvery late), so that only the cycles differ.
		_, plain, _, _, err := b.pausedExport(ctx, 0, hold, &cycleTimes{})
		stop()
		if err != nil {
			return err
		}
		plainCPU.add(b.cpu().sub(c0))
		c0 = b.cpu()
		plains = append(plains, plain)
		stop = b.profile(ctx, fmt.Sprintf("pause-cycles-run%d", i+1))
		id, total, paused, cycles, err := b.pausedExport(ctx, b.opts.cycles, hold, &reqs)
		// The last cycles come near the end, where batches are largest: a run whose export
		// completed before a poll saw the last cycle's share done had fewer cycles, so less
		// cost. It is run again (twice at most), and the report says if it still fell short.
		for again := 0; err == nil && cycles < b.opts.cycles && again < 2; again++ {
			b.logf("pause/resume run %d: the export completed after %d of %d cycles; again", i+1, cycles, b.opts.cycles)
			c0 = b.cpu()
			id, total, paused, cycles, err = b.pausedExport(ctx, b.opts.cycles, hold, &reqs)
		}
		stop()
		if err != nil {
			return err
		}
		pausedCPU.add(b.cpu().sub(c0))
		same, err := b.checkResult(ctx, id, b.exportRows)
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
	b.report.sameRows("paused export's result = COPY's rows", b.exportRows.rows, identical)
	slices.Sort(reqs.pause)
	slices.Sort(reqs.resume)
	b.report.note("pause/resume cost: %d alternating runs each, medians compared; the baseline is a plain Reins export run alongside (step 2's median was %s), both watched by polling job-status every %s; each cycle is held PAUSED %s, and only that hold (PAUSED answer → RESUME request) is subtracted, so the PAUSE and RESUME requests count as cost; plain %s, working time with cycles %s; per cycle, PAUSE request p50 %s, RESUME request p50 %s; CPU used per run (median): plain: %s; with cycles: %s",
		b.opts.repeat, secs(b.plainExport), pollEvery, hold, durations(plains), durations(actives),
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

// spread formats sorted's p50, p-th percentile and max in milliseconds: "p50 / pN / max".
func spread(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s / %s", millis(percentile(sorted, 50)), millis(percentile(sorted, p)), millis(sorted[len(sorted)-1]))
}
