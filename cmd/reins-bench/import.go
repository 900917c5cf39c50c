package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/reins-dev/reins/demo"
)

const copyFromSQL = `COPY customers (first_name, last_name, address, email, age, company, created_at)
	FROM STDIN WITH (FORMAT csv, HEADER true)`

// importCreatedAt is every imported row's created_at. The column is in the file, so COPY
// (customers.created_at is NOT NULL) and Reins load exactly the same bytes.
const importCreatedAt = "2020-01-01T00:00:00Z"

// writeImportCSV writes n demo-like customers with unique emails (none of them a seeded
// one's) to path, and returns its size.
func writeImportCSV(path string, n int64) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)
	_ = w.Write([]string{"first_name", "last_name", "address", "email", "age", "company", "created_at"})
	record := make([]string, 7)
	for i := range n {
		c := demo.Customer(i, n)
		record[0], record[1], record[2] = c.FirstName, c.LastName, c.Address
		record[3] = fmt.Sprintf("import.%d@bench.example.com", i)
		record[4], record[5], record[6] = strconv.Itoa(c.Age), c.Company, importCreatedAt
		if err := w.Write(record); err != nil {
			return 0, err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), f.Close()
}

// copyFrom runs the baseline import of the file, reading it from disk as Reins does.
func (b *bench) copyFrom(ctx context.Context, path string, n int64) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.jobTimeout)
	defer cancel()
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	tag, err := b.db.PgConn().CopyFrom(ctx, bufio.NewReaderSize(f, 256<<10), copyFromSQL)
	elapsed := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("COPY FROM: %w", err)
	}
	if tag.RowsAffected() != n {
		return 0, fmt.Errorf("COPY FROM inserted %d rows, want %d", tag.RowsAffected(), n)
	}
	return elapsed, nil
}

// importOnce runs one Reins import: new-job, the streamed upload, then the job's event
// stream until COMPLETED. It returns the whole time and the time until the upload was answered.
func (b *bench) importOnce(ctx context.Context, path string, rows int64) (string, time.Duration, time.Duration, error) {
	return b.importOnceOn(ctx, path, rows, func(id string) (int64, error) {
		var n int64
		err := b.db.QueryRow(ctx, "SELECT count(*) FROM customers WHERE job_id = $1", id).Scan(&n)
		return n, err
	})
}

// importOnceOn is importOnce with the job's rows in customers counted by countRows.
func (b *bench) importOnceOn(ctx context.Context, path string, rows int64, countRows func(id string) (int64, error)) (id string, total, upload time.Duration, err error) {
	start := time.Now()
	if id, err = b.api.newImport(ctx, 0); err != nil {
		return "", 0, 0, err
	}
	if err = b.api.upload(ctx, id, path, b.opts.jobTimeout); err != nil {
		return id, 0, 0, fmt.Errorf("upload: %w", err)
	}
	upload = time.Since(start)
	st, err := b.api.waitCompleted(ctx, id, b.opts.jobTimeout)
	total = time.Since(start)
	if err != nil {
		return id, 0, 0, err
	}
	if st.Progress.Done != rows {
		return id, 0, 0, fmt.Errorf("import %s COMPLETED with done %d, want %d", id, st.Progress.Done, rows)
	}
	n, err := countRows(id)
	if err != nil {
		return id, 0, 0, err
	}
	if n != rows {
		return id, 0, 0, fmt.Errorf("import %s COMPLETED with %d rows in customers, want %d", id, n, rows)
	}
	return id, total, upload, nil
}

// removeImported deletes every row above maxID and vacuums, so the next import starts
// from the same table: the seeded rows and nothing else.
func (b *bench) removeImported(ctx context.Context, maxID, rows int64) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.jobTimeout)
	defer cancel()
	tag, err := b.db.Exec(ctx, "DELETE FROM customers WHERE id > $1", maxID)
	if err != nil {
		return err
	}
	if rows >= 0 && tag.RowsAffected() != rows {
		return fmt.Errorf("deleted %d imported rows, want %d", tag.RowsAffected(), rows)
	}
	if _, err := b.db.Exec(ctx, "VACUUM customers"); err != nil {
		return err
	}
	return nil
}

// checkpoint makes Postgres write a checkpoint before a timed run (an import or an export,
// of either side), so that no run starts part-way through a checkpoint cycle or shares the
// disk with one Postgres started after a reseed. An import of 1M rows writes about
// 500 MB of WAL (every page it touches first logged whole after a checkpoint), near the
// volume at which Postgres starts a checkpoint by itself (max_wal_size ÷ 1.9 by default);
// one started in the middle of a run logs the pages written after it whole again, on
// either side, by chance. It narrows the import's spread but does not end it
// (docs/benchmarks.md, step 3). Without the right (superuser or pg_checkpoint) it says so
// once and goes on.
func (b *bench) checkpoint(ctx context.Context) {
	if b.noCheckpoint {
		return
	}
	if _, err := b.db.Exec(ctx, "CHECKPOINT"); err != nil {
		b.noCheckpoint = true
		b.logf("cannot CHECKPOINT before timed imports (%v): imports may be timed across a checkpoint", err)
	}
}

// importComparison is the outcome of importVsCopy.
type importComparison struct {
	size                   int64 // the CSV's bytes
	reins, uploads, copies []time.Duration
	reinsCPU, copyCPU      cpuLog
	// reinsWAL and copyWAL are the WAL each run wrote, in bytes (empty when the server
	// cannot say: walPosition).
	reinsWAL, copyWAL []int64
	peak              int64 // the server's peak RSS during the last Reins import
}

// walPosition is how far Postgres has written its WAL, in bytes, or -1 when it cannot
// say (a standby, or no right to ask): what a run writes shows where its database time
// goes, an index page logged whole after a checkpoint above all.
func (b *bench) walPosition(ctx context.Context) int64 {
	var at int64
	if err := b.db.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint").Scan(&at); err != nil {
		return -1
	}
	return at
}

// walSince appends to log the WAL written since from (walPosition), if both are known.
func (b *bench) walSince(ctx context.Context, log []int64, from int64) []int64 {
	if to := b.walPosition(ctx); from >= 0 && to >= 0 {
		return append(log, to-from)
	}
	return log
}

// walList formats the WAL of each run in MB, or "unknown".
func walList(runs []int64) string {
	if len(runs) == 0 {
		return "unknown"
	}
	parts := make([]string, len(runs))
	for i, n := range runs {
		parts[i] = mb(n)
	}
	return "[" + strings.Join(parts, ", ") + "] MB"
}

// importVsCopy writes a CSV of n rows and times Reins' import of it (HTTP upload to
// COMPLETED) against COPY FROM of the same file, into the seeded table, alternating, repeat
// times; the new rows are deleted after every run. The last Reins run is profiled under
// profile (with --cpuprofile) and its peak RSS kept.
// With tidyLast false the last run's rows stay, and the next reseed empties the table.
func (b *bench) importVsCopy(ctx context.Context, n int64, repeat int, profile string, tidyLast bool) (*importComparison, error) {
	path := filepath.Join(b.tmp, "import.csv")
	size, err := writeImportCSV(path, n)
	if err != nil {
		return nil, fmt.Errorf("write the import file: %w", err)
	}
	defer os.Remove(path)
	out := &importComparison{size: size}
	var maxID int64
	if err := b.db.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM customers").Scan(&maxID); err != nil {
		return nil, err
	}
	b.logf("import file: %s rows, %s bytes", count(n), count(size))
	for i := range repeat {
		b.checkpoint(ctx)
		c0, w0 := b.cpu(), b.walPosition(ctx)
		d, err := b.copyFrom(ctx, path, n)
		if err != nil {
			return nil, err
		}
		out.copyCPU.add(b.cpu().sub(c0))
		out.copyWAL = b.walSince(ctx, out.copyWAL, w0)
		out.copies = append(out.copies, d)
		if err := b.removeImported(ctx, maxID, n); err != nil {
			return nil, fmt.Errorf("after COPY FROM: %w", err)
		}
		last := i == repeat-1
		if last {
			b.srv.resetPeak()
		}
		stop := b.profileIf(ctx, last, profile)
		b.checkpoint(ctx)
		c0, w0 = b.cpu(), b.walPosition(ctx)
		_, r, up, err := b.importOnce(ctx, path, n)
		stop()
		if err != nil {
			return nil, err
		}
		out.reinsCPU.add(b.cpu().sub(c0))
		out.reinsWAL = b.walSince(ctx, out.reinsWAL, w0)
		if last {
			if _, out.peak, err = b.srv.memory(); err != nil {
				return nil, err
			}
		}
		out.reins, out.uploads = append(out.reins, r), append(out.uploads, up)
		if last && !tidyLast {
			b.seeded = -1 // not the seeded rows alone: the next reseed empties the table
		} else if err := b.removeImported(ctx, maxID, n); err != nil {
			return nil, fmt.Errorf("after the Reins import: %w", err)
		}
		b.logf("import run %d: COPY %s, Reins %s (upload answered after %s) (%.2fx)", i+1, secs(d), secs(r), secs(up), ratio(r, d))
	}
	return out, nil
}

// benchImport is the import figure: a CSV of --rows rows, Reins (HTTP upload to COMPLETED)
// against COPY FROM of the same file, into the seeded table.
func (b *bench) benchImport(ctx context.Context) error {
	c, err := b.importVsCopy(ctx, b.opts.rows, b.opts.repeat, "import", true)
	if err != nil {
		return err
	}
	r, cp := median(c.reins), median(c.copies)
	b.noteScale("import", b.opts.rows, r, cp, c.peak, c.size)
	x := ratio(r, cp)
	b.report.add(row{
		figure:   fmt.Sprintf("import %s rows (%s MB CSV): new-job + upload → COMPLETED vs `COPY FROM` into the same table", count(b.opts.rows), mb(c.size)),
		reins:    secs(r),
		baseline: secs(cp),
		ratio:    fmt.Sprintf("%.2f×", x),
		target:   fmt.Sprintf("≤ %.1f×", importTarget),
		pass:     passMark(x <= importTarget),
	})
	b.report.note("import: median of %d alternating runs each: COPY %s, Reins %s, of which the upload (until its answer) %s; both load the same file (with a created_at column) into the %s seeded rows; the new rows are deleted and the table vacuumed after every run; CPU used per run (median): COPY: %s; Reins: %s; WAL written per run: COPY %s, Reins %s",
		b.opts.repeat, durations(c.copies), durations(c.reins), durations(c.uploads), count(b.opts.rows), &c.copyCPU, &c.reinsCPU, walList(c.copyWAL), walList(c.reinsWAL))
	return nil
}
