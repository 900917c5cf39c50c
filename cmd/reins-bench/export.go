package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// copyToSQL is the baseline export of the rows Reins exports for r (csvexport turns the
// dates into a half-open created_at range): a user's alternative, the plain COPY with no
// ORDER BY (docs/design.md §6), which the planner runs as it likes (a sequential scan for a
// wide range). ordered adds the ORDER BY created_at, id of the old harness, kept as a
// reference line.
func copyToSQL(r dateRange, ordered bool) string {
	order := ""
	if ordered {
		order = " ORDER BY created_at, id"
	}
	return fmt.Sprintf(`COPY (SELECT first_name, last_name, address, email, age, company FROM customers
	WHERE created_at >= '%s' AND created_at < '%s'%s) TO STDOUT WITH (FORMAT csv, HEADER true)`, r.from, r.upTo, order)
}

// copyTo runs a baseline export into a file, synced as Reins syncs its result, and times
// it; it returns the rows COPY wrote.
func (b *bench) copyTo(ctx context.Context, dst, sql string) (time.Duration, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.jobTimeout)
	defer cancel()
	start := time.Now()
	f, err := os.Create(dst)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	tag, err := b.db.PgConn().CopyTo(ctx, f, sql)
	if err != nil {
		return 0, 0, fmt.Errorf("COPY TO: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, 0, err
	}
	if err := f.Close(); err != nil {
		return 0, 0, err
	}
	return time.Since(start), tag.RowsAffected(), nil
}

// exportOnce runs one unthrottled Reins export of r, from the request to COMPLETED, and
// returns its job id and time; the job must have done want rows.
func (b *bench) exportOnce(ctx context.Context, r dateRange, want int64) (string, time.Duration, error) {
	start := time.Now()
	id, err := b.api.exportRange(ctx, r, 0)
	if err != nil {
		return "", 0, err
	}
	st, err := b.api.waitCompleted(ctx, id, b.opts.jobTimeout)
	elapsed := time.Since(start)
	if err != nil {
		return id, 0, err
	}
	if st.Progress.Done != want {
		return id, 0, fmt.Errorf("export %s COMPLETED with done %d, want %d", id, st.Progress.Done, want)
	}
	return id, elapsed, nil
}

// checkResult downloads the export's result and compares its rows, as a multiset, with
// the baseline's.
func (b *bench) checkResult(ctx context.Context, id string, want rowset) (bool, error) {
	dst := filepath.Join(b.tmp, "reins-export.csv")
	defer os.Remove(dst)
	if _, _, err := b.api.download(ctx, id, dst, b.opts.jobTimeout); err != nil {
		return false, err
	}
	got, err := readRowset(dst)
	if err != nil {
		return false, err
	}
	same := got.sameRows(want)
	if !same {
		b.logf("MISMATCH: export %s holds %s (header %q); COPY wrote %s (header %q)", id, got, got.header, want, want.header)
	}
	return same, nil
}

// exportComparison is the outcome of exportVsCopy.
type exportComparison struct {
	reins, copies, ordered []time.Duration
	reinsCPU, copyCPU      cpuLog
	rows                   rowset // the baseline's rows
	identical              bool   // every Reins result held exactly the baseline's rows
	peak                   int64  // the server's peak RSS during the last Reins export
}

// exportVsCopy times Reins' export of r against the plain COPY of the same rows (and, with
// ordered, the ordered COPY too), alternating, after an untimed warm-up of each, --repeat
// times. The last Reins run is profiled under profile (with --cpuprofile).
func (b *bench) exportVsCopy(ctx context.Context, r dateRange, withOrdered bool, profile string) (*exportComparison, error) {
	out := &exportComparison{identical: true}
	baselineFile := filepath.Join(b.tmp, "copy-export.csv")
	defer os.Remove(baselineFile)
	if _, _, err := b.copyTo(ctx, baselineFile, copyToSQL(r, false)); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	var err error
	if out.rows, err = readRowset(baselineFile); err != nil {
		return nil, err
	}
	if withOrdered {
		// The ordered COPY holds the same rows: a check of the check.
		if _, _, err := b.copyTo(ctx, baselineFile, copyToSQL(r, true)); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		ordered, err := readRowset(baselineFile)
		if err != nil {
			return nil, err
		}
		if !ordered.sameRows(out.rows) {
			return nil, fmt.Errorf("the ordered COPY wrote %s, the plain one %s", ordered, out.rows)
		}
	}
	if _, _, err := b.exportOnce(ctx, r, out.rows.rows); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	b.logf("warm-up done; COPY wrote %s bytes, %s", count(out.rows.bytes), out.rows)

	for i := range b.opts.repeat {
		b.checkpoint(ctx)
		c0 := b.cpu()
		d, n, err := b.copyTo(ctx, baselineFile, copyToSQL(r, false))
		c1 := b.cpu()
		if err != nil {
			return nil, err
		}
		if n != out.rows.rows {
			return nil, fmt.Errorf("COPY TO wrote %d rows in run %d, %d in the warm-up", n, i+1, out.rows.rows)
		}
		out.copies = append(out.copies, d)
		out.copyCPU.add(c1.sub(c0))
		if withOrdered {
			b.checkpoint(ctx)
			d, _, err := b.copyTo(ctx, baselineFile, copyToSQL(r, true))
			if err != nil {
				return nil, err
			}
			out.ordered = append(out.ordered, d)
		}

		last := i == b.opts.repeat-1
		b.checkpoint(ctx)
		if last {
			b.srv.resetPeak()
		}
		stop := b.profileIf(ctx, last, profile)
		c0 = b.cpu()
		id, t, err := b.exportOnce(ctx, r, out.rows.rows)
		stop()
		if err != nil {
			return nil, err
		}
		if last {
			if _, out.peak, err = b.srv.memory(); err != nil {
				return nil, err
			}
		}
		out.reinsCPU.add(b.cpu().sub(c0))
		out.reins = append(out.reins, t)
		same, err := b.checkResult(ctx, id, out.rows)
		if err != nil {
			return nil, err
		}
		out.identical = out.identical && same
		b.logf("export run %d: COPY %s, Reins %s (%.2fx)", i+1, secs(d), secs(t), ratio(t, d))
	}
	return out, nil
}

// Issue 11's targets for the export and import figures.
const (
	exportTarget = 1.2
	importTarget = 1.2
)

// benchExport is the first figure: an export of every row, Reins against the plain COPY
// TO, with the ordered COPY beside it for reference.
func (b *bench) benchExport(ctx context.Context) error {
	c, err := b.exportVsCopy(ctx, fullRange, true, "export")
	if err != nil {
		return err
	}
	b.plainExport, b.copyExport, b.exportRows = median(c.reins), median(c.copies), c.rows
	b.noteScale("export", b.opts.rows, b.plainExport, b.copyExport, c.peak, c.rows.bytes)
	x := ratio(b.plainExport, b.copyExport)
	b.report.add(row{
		figure:   fmt.Sprintf("export %s rows, full range: request → COMPLETED vs `COPY (SELECT …; no ORDER BY) TO` a synced file", count(b.opts.rows)),
		reins:    secs(b.plainExport),
		baseline: secs(b.copyExport),
		ratio:    fmt.Sprintf("%.2f×", x),
		target:   fmt.Sprintf("≤ %.1f×", exportTarget),
		pass:     passMark(x <= exportTarget),
	})
	ordered := median(c.ordered)
	b.report.add(row{
		figure:   "(reference) the same export vs `COPY (SELECT … ORDER BY created_at, id) TO`",
		reins:    secs(b.plainExport),
		baseline: secs(ordered),
		ratio:    fmt.Sprintf("%.2f×", ratio(b.plainExport, ordered)),
		target:   "–",
		pass:     "–",
	})
	b.report.sameRows("export result = COPY's rows (header, count and row multiset; order free)", c.rows.rows, c.identical)
	b.report.note("export: median of %d alternating runs each (after a warm-up of each): COPY %s, ordered COPY %s, Reins %s; the %d Reins results %s (%s, %s bytes from COPY); CPU used per run (median): COPY: %s; Reins: %s",
		b.opts.repeat, durations(c.copies), durations(c.ordered), durations(c.reins), b.opts.repeat, sameWord(c.identical), c.rows, count(c.rows.bytes), &c.copyCPU, &c.reinsCPU)
	return nil
}

// benchRange is the export of a 20% date range of --big-rows rows against the plain COPY of
// that range. It reseeds the table with --big-rows rows (the scale figures reseed it again).
func (b *bench) benchRange(ctx context.Context) error {
	if err := b.reseed(ctx, b.opts.bigRows); err != nil {
		return err
	}
	c, err := b.exportVsCopy(ctx, fifthRange, false, "range")
	if err != nil {
		return err
	}
	r, cp := median(c.reins), median(c.copies)
	x := ratio(r, cp)
	b.report.add(row{
		figure: fmt.Sprintf("export of a 20%% date range (%s–%s: %s of %s rows) vs `COPY` of that range",
			fifthRange.gte, fifthRange.lte, count(c.rows.rows), count(b.opts.bigRows)),
		reins:    secs(r),
		baseline: secs(cp),
		ratio:    fmt.Sprintf("%.2f×", x),
		target:   fmt.Sprintf("≤ %.1f×", exportTarget),
		pass:     passMark(x <= exportTarget),
	})
	b.report.sameRows("range export result = COPY's rows", c.rows.rows, c.identical)
	b.report.note("range export: %s rows seeded; median of %d alternating runs each (after a warm-up of each): COPY %s, Reins %s; CPU used per run (median): COPY: %s; Reins: %s",
		count(b.opts.bigRows), b.opts.repeat, durations(c.copies), durations(c.reins), &c.copyCPU, &c.reinsCPU)
	return nil
}

func sameWord(same bool) string {
	if same {
		return "held exactly COPY's rows"
	}
	return "did NOT hold exactly COPY's rows"
}
