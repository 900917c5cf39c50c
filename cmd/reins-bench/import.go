package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
func (b *bench) copyFrom(ctx context.Context, path string) (time.Duration, error) {
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
	if tag.RowsAffected() != b.opts.rows {
		return 0, fmt.Errorf("COPY FROM inserted %d rows, want %d", tag.RowsAffected(), b.opts.rows)
	}
	return elapsed, nil
}

// importOnce runs one Reins import: new-job, the streamed upload, then polling to
// COMPLETED. It returns the whole time and the time until the upload was answered.
func (b *bench) importOnce(ctx context.Context, path string) (id string, total, upload time.Duration, err error) {
	start := time.Now()
	if id, err = b.api.newImport(ctx); err != nil {
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
	if st.Progress.Done != b.opts.rows {
		return id, 0, 0, fmt.Errorf("import %s COMPLETED with done %d, want %d", id, st.Progress.Done, b.opts.rows)
	}
	var n int64
	if err := b.db.QueryRow(ctx, "SELECT count(*) FROM customers WHERE job_id = $1", id).Scan(&n); err != nil {
		return id, 0, 0, err
	}
	if n != b.opts.rows {
		return id, 0, 0, fmt.Errorf("import %s COMPLETED with %d rows in customers, want %d", id, n, b.opts.rows)
	}
	return id, total, upload, nil
}

// removeImported deletes every row above maxID and vacuums, so the next import starts
// from the same table: the seeded rows and nothing else.
func (b *bench) removeImported(ctx context.Context, maxID int64) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.jobTimeout)
	defer cancel()
	tag, err := b.db.Exec(ctx, "DELETE FROM customers WHERE id > $1", maxID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != b.opts.rows {
		return fmt.Errorf("deleted %d imported rows, want %d", tag.RowsAffected(), b.opts.rows)
	}
	if _, err := b.db.Exec(ctx, "VACUUM customers"); err != nil {
		return err
	}
	return nil
}

// benchImport is figure 2: an import of a CSV of --rows rows, Reins (HTTP upload to
// COMPLETED) against COPY FROM of the same file, into the seeded table.
func (b *bench) benchImport(ctx context.Context) error {
	path := filepath.Join(b.tmp, "import.csv")
	size, err := writeImportCSV(path, b.opts.rows)
	if err != nil {
		return fmt.Errorf("write the import file: %w", err)
	}
	defer os.Remove(path)
	var maxID int64
	if err := b.db.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM customers").Scan(&maxID); err != nil {
		return err
	}
	b.logf("import file: %s rows, %s bytes", count(b.opts.rows), count(size))

	var reins, uploads, copies []time.Duration
	var reinsCPU, copyCPU cpuLog
	for i := range b.opts.repeat {
		c0 := b.cpu()
		d, err := b.copyFrom(ctx, path)
		if err != nil {
			return err
		}
		copyCPU.add(b.cpu().sub(c0))
		copies = append(copies, d)
		if err := b.removeImported(ctx, maxID); err != nil {
			return fmt.Errorf("after COPY FROM: %w", err)
		}
		c0 = b.cpu()
		_, r, up, err := b.importOnce(ctx, path)
		if err != nil {
			return err
		}
		reinsCPU.add(b.cpu().sub(c0))
		reins, uploads = append(reins, r), append(uploads, up)
		if err := b.removeImported(ctx, maxID); err != nil {
			return fmt.Errorf("after the Reins import: %w", err)
		}
		b.logf("import run %d: COPY %s, Reins %s (upload answered after %s) (%.2fx)", i+1, secs(d), secs(r), secs(up), ratio(r, d))
	}
	r, c := median(reins), median(copies)
	x := ratio(r, c)
	b.report.add(row{
		figure:   fmt.Sprintf("import %s rows (%s MB CSV): new-job + upload → COMPLETED vs `COPY FROM`", count(b.opts.rows), mb(size)),
		reins:    secs(r),
		baseline: secs(c),
		ratio:    fmt.Sprintf("%.2f×", x),
		target:   "≤ 1.5×",
		pass:     passMark(x <= 1.5),
	})
	b.report.note("import: median of %d alternating runs each: COPY %s, Reins %s, of which the upload (until its answer) %s; both load the same file (with a created_at column) into the %s seeded rows; the new rows are deleted and the table vacuumed after every run; CPU used per run (median): COPY: %s; Reins: %s",
		b.opts.repeat, durations(copies), durations(reins), durations(uploads), count(b.opts.rows), &copyCPU, &reinsCPU)
	return nil
}
