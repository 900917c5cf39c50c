package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// copyToSQL is the baseline export: the rows and order Reins exports for
// date_gte=2015-01-01&date_lte=2024-12-31, which csvexport turns into [2015-01-01, 2025-01-01).
const copyToSQL = `COPY (SELECT first_name, last_name, address, email, age, company FROM customers
	WHERE created_at >= '2015-01-01T00:00:00Z' AND created_at < '2025-01-01T00:00:00Z'
	ORDER BY created_at, id) TO STDOUT WITH (FORMAT csv, HEADER true)`

// copyTo runs the baseline export into a file, synced as Reins syncs its result, and times
// it; the file's hash is computed afterwards, untimed.
func (b *bench) copyTo(ctx context.Context, dst string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.jobTimeout)
	defer cancel()
	start := time.Now()
	f, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	tag, err := b.db.PgConn().CopyTo(ctx, f, copyToSQL)
	if err != nil {
		return 0, fmt.Errorf("COPY TO: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	if tag.RowsAffected() != b.opts.rows {
		return 0, fmt.Errorf("COPY TO wrote %d rows, want %d", tag.RowsAffected(), b.opts.rows)
	}
	return elapsed, nil
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

// exportOnce runs one Reins export, from the request to COMPLETED, with the given throttle
// (0: none), and returns its job id and time.
func (b *bench) exportOnce(ctx context.Context) (string, time.Duration, error) {
	start := time.Now()
	id, err := b.api.export(ctx, 0)
	if err != nil {
		return "", 0, err
	}
	st, err := b.api.waitCompleted(ctx, id, b.opts.jobTimeout)
	elapsed := time.Since(start)
	if err != nil {
		return id, 0, err
	}
	if st.Progress.Done != b.opts.rows {
		return id, 0, fmt.Errorf("export %s COMPLETED with done %d, want %d", id, st.Progress.Done, b.opts.rows)
	}
	return id, elapsed, nil
}

// checkResult downloads the export's result and compares it with the baseline's bytes.
func (b *bench) checkResult(ctx context.Context, id string) (bool, error) {
	dst := filepath.Join(b.tmp, "reins-export.csv")
	defer os.Remove(dst)
	size, sum, err := b.api.download(ctx, id, dst, b.opts.jobTimeout)
	if err != nil {
		return false, err
	}
	same := size == b.exportSize && sum == b.exportSHA
	if !same {
		b.logf("MISMATCH: export %s is %d bytes, sha256 %s; COPY wrote %d bytes, sha256 %s",
			id, size, sum, b.exportSize, b.exportSHA)
	}
	return same, nil
}

// benchExport is figure 1: an export of every row, Reins against COPY TO, alternating,
// after an untimed warm-up of each, the median of --repeat runs.
func (b *bench) benchExport(ctx context.Context) error {
	baselineFile := filepath.Join(b.tmp, "copy-export.csv")
	if _, err := b.copyTo(ctx, baselineFile); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	var err error
	if b.exportSize, b.exportSHA, err = hashFile(baselineFile); err != nil {
		return err
	}
	if _, _, err := b.exportOnce(ctx); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	b.logf("warm-up done; COPY output is %s bytes, sha256 %s", count(b.exportSize), b.exportSHA)

	var reins, copies []time.Duration
	var reinsCPU, copyCPU cpuLog
	identical := true
	for i := range b.opts.repeat {
		c0 := b.cpu()
		d, err := b.copyTo(ctx, baselineFile)
		c1 := b.cpu()
		if err != nil {
			return err
		}
		size, sum, err := hashFile(baselineFile)
		if err != nil {
			return err
		}
		if size != b.exportSize || sum != b.exportSHA {
			return fmt.Errorf("COPY TO is not deterministic: run %d wrote %d bytes, sha256 %s", i+1, size, sum)
		}
		copies = append(copies, d)
		copyCPU.add(c1.sub(c0))

		c0 = b.cpu()
		id, r, err := b.exportOnce(ctx)
		if err != nil {
			return err
		}
		reinsCPU.add(b.cpu().sub(c0))
		reins = append(reins, r)
		same, err := b.checkResult(ctx, id)
		if err != nil {
			return err
		}
		identical = identical && same
		b.logf("export run %d: COPY %s, Reins %s (%.2fx)", i+1, secs(d), secs(r), ratio(r, d))
	}
	b.copyExport, b.plainExport = median(copies), median(reins)
	x := ratio(b.plainExport, b.copyExport)
	b.report.add(row{
		figure:   fmt.Sprintf("export %s rows: request → COMPLETED vs `COPY (SELECT …) TO` a synced file", count(b.opts.rows)),
		reins:    secs(b.plainExport),
		baseline: secs(b.copyExport),
		ratio:    fmt.Sprintf("%.2f×", x),
		target:   "≤ 1.5×",
		pass:     passMark(x <= 1.5),
	})
	b.report.add(row{
		figure:   "export result = COPY output (size and SHA-256)",
		reins:    fmt.Sprintf("%s B", count(b.exportSize)),
		baseline: fmt.Sprintf("%s B", count(b.exportSize)),
		ratio:    "–",
		target:   "byte-identical",
		pass:     b.report.check(identical),
	})
	b.report.note("export: median of %d alternating runs each (after a warm-up of each): COPY %s, Reins %s; the %d Reins results were %s (sha256 %s); CPU used per run (median): COPY: %s; Reins: %s",
		b.opts.repeat, durations(copies), durations(reins), b.opts.repeat, identicalWord(identical), b.exportSHA[:16], &copyCPU, &reinsCPU)
	return nil
}

func identicalWord(same bool) string {
	if same {
		return "byte-identical to COPY's output"
	}
	return "NOT byte-identical to COPY's output"
}
