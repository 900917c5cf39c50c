package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sqliteTimeFormat is how the SQLite store keeps times (sqlite/value.go): fixed-width UTC
// text, so the range compares as text.
const sqliteTimeFormat = "2006-01-02T15:04:05.000000Z"

// sqlite3 runs the sqlite3 shell on db with script on its standard input, and returns its
// standard output; a message on its standard error is an error (the shell exits 0 after
// many).
func sqlite3(ctx context.Context, db, script string) (string, error) {
	cmd := exec.CommandContext(ctx, "sqlite3", "-batch", "-bail", db)
	cmd.Stdin = strings.NewReader(script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil && stderr.Len() > 0 {
		err = errors.New("wrote to stderr")
	}
	if err != nil {
		return "", fmt.Errorf("sqlite3 %s: %w: %s", db, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// benchSQLite is the embedded store's figure: Reins on SQLite (`reins serve --data-dir`,
// no database URL) exporting and importing --sqlite-rows rows, against the sqlite3 shell
// doing the same: `.mode csv` / `.output` of the same rows, and `.import` into an identical
// table holding the same seeded rows. The export: --repeat alternating runs of each after a
// warm-up of each, medians compared; the import: one run of each.
func (b *bench) benchSQLite(ctx context.Context) error {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		return errors.New("the SQLite figures need the sqlite3 shell (Debian: apt-get install sqlite3), or --skip-sqlite")
	}
	n := b.opts.sqliteRows
	dataDir := filepath.Join(b.tmp, "sqlite-data")
	runDir := filepath.Join(b.tmp, "sqlite-run")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return err
	}
	db := filepath.Join(dataDir, "reins.db") // cmd/reins Config.SQLitePath
	if err := b.seedWith(ctx, n, "--data-dir", dataDir); err != nil {
		return err
	}
	srv, err := startServer(ctx, b.binary, append([]string{"serve", "--data-dir", dataDir}, b.tuningArgs()...), runDir, b.pprof, b.logf)
	if srv != nil {
		defer func() {
			if err := srv.stop(40 * time.Second); err != nil {
				b.logf("stop the SQLite server: %v", err)
			}
		}()
	}
	if err != nil {
		return err
	}
	api := newClient(srv.baseURL)
	// The figures below use the SQLite server; the Postgres one waits.
	pgSrv, pgAPI := b.srv, b.api
	b.srv, b.api = srv, api
	defer func() { b.srv, b.api = pgSrv, pgAPI }()

	// Export.
	from, _ := time.Parse(time.RFC3339, fullRange.from)
	upTo, _ := time.Parse(time.RFC3339, fullRange.upTo)
	baselineFile := filepath.Join(b.tmp, "sqlite3-export.csv")
	defer os.Remove(baselineFile)
	script := fmt.Sprintf(".headers on\n.mode csv\n.output %s\nSELECT first_name, last_name, address, email, age, company FROM customers WHERE created_at >= '%s' AND created_at < '%s';\n",
		baselineFile, from.Format(sqliteTimeFormat), upTo.Format(sqliteTimeFormat))
	shellExport := func() (time.Duration, error) {
		start := time.Now()
		if _, err := sqlite3(ctx, db, script); err != nil {
			return 0, err
		}
		if err := syncFile(baselineFile); err != nil { // Reins syncs its result too
			return 0, err
		}
		return time.Since(start), nil
	}
	if _, err := shellExport(); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	want, err := readRowset(baselineFile)
	if err != nil {
		return err
	}
	if want.rows != n {
		return fmt.Errorf("sqlite3 exported %d rows, want %d", want.rows, n)
	}
	if _, _, err := b.exportOnce(ctx, fullRange, n); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	// Alternating runs, as on Postgres: one of each moves by a third from run to run here.
	var shellTs, reinsTs []time.Duration
	same := true
	for i := range b.opts.repeat {
		shellT, err := shellExport()
		if err != nil {
			return err
		}
		stop := b.profileIf(ctx, i == b.opts.repeat-1, "sqlite-export")
		id, reinsT, err := b.exportOnce(ctx, fullRange, n)
		stop()
		if err != nil {
			return err
		}
		ok, err := b.checkResult(ctx, id, want)
		if err != nil {
			return err
		}
		same = same && ok
		shellTs, reinsTs = append(shellTs, shellT), append(reinsTs, reinsT)
		b.logf("sqlite export run %d: sqlite3 %s, Reins %s (%.2fx)", i+1, secs(shellT), secs(reinsT), ratio(reinsT, shellT))
	}
	shellT, reinsT := median(shellTs), median(reinsTs)
	x := ratio(reinsT, shellT)
	b.report.add(row{
		figure: fmt.Sprintf("SQLite: export %s rows, request → COMPLETED vs the sqlite3 shell's `.mode csv` `.output` of the same rows (synced)", count(n)),
		reins:  secs(reinsT), baseline: secs(shellT), ratio: fmt.Sprintf("%.2f×", x),
		target: "≤ 2×", pass: passMark(x <= 2),
	})
	b.report.add(row{
		figure:   "SQLite: export result = sqlite3's rows",
		reins:    fmt.Sprintf("%s rows", count(want.rows)),
		baseline: fmt.Sprintf("%s rows", count(want.rows)),
		ratio:    "–", target: "same rows", pass: b.report.check(same),
	})

	// Import: the baseline's identical table, in a database of its own with the same
	// seeded rows, the same pragmas (journal_mode WAL, synchronous NORMAL); .import goes
	// through a view whose INSTEAD OF trigger inserts the file's columns, as Reins does.
	if b.opts.skipImport {
		return nil
	}
	baseDB := filepath.Join(b.tmp, "sqlite3-baseline.db")
	defer os.Remove(baseDB)
	ddl, err := sqlite3(ctx, db, "SELECT sql || ';' FROM sqlite_master WHERE tbl_name = 'customers' AND sql IS NOT NULL ORDER BY type DESC;\n")
	if err != nil {
		return err
	}
	cols := "first_name, last_name, address, email, age, company, created_at"
	prep := fmt.Sprintf(`PRAGMA journal_mode=WAL;
%s
ATTACH '%s' AS r;
INSERT INTO main.customers SELECT * FROM r.customers;
DETACH r;
CREATE VIEW customers_csv AS SELECT %s FROM customers;
CREATE TRIGGER customers_csv_insert INSTEAD OF INSERT ON customers_csv BEGIN
  INSERT INTO customers (%s) VALUES (NEW.first_name, NEW.last_name, NEW.address, NEW.email, NEW.age, NEW.company, NEW.created_at);
END;
ANALYZE;
`, ddl, db, cols, cols)
	if _, err := sqlite3(ctx, baseDB, prep); err != nil {
		return fmt.Errorf("prepare the baseline table: %w", err)
	}
	path := filepath.Join(b.tmp, "sqlite-import.csv")
	size, err := writeImportCSV(path, n)
	if err != nil {
		return fmt.Errorf("write the import file: %w", err)
	}
	defer os.Remove(path)
	start := time.Now()
	if _, err := sqlite3(ctx, baseDB, fmt.Sprintf("PRAGMA synchronous=NORMAL;\n.import --csv --skip 1 %s customers_csv\n", path)); err != nil {
		return err
	}
	shellImport := time.Since(start)
	out, err := sqlite3(ctx, baseDB, "SELECT count(*) FROM customers;\n")
	if err != nil {
		return err
	}
	if got, _ := strconv.ParseInt(strings.TrimSpace(out), 10, 64); got != 2*n {
		return fmt.Errorf("the sqlite3 baseline holds %s rows after .import, want %d", strings.TrimSpace(out), 2*n)
	}
	stop := b.profile(ctx, "sqlite-import")
	_, reinsImport, upload, err := b.importOnceOn(ctx, path, n, func(id string) (int64, error) {
		out, err := sqlite3(ctx, db, fmt.Sprintf("SELECT count(*) FROM customers WHERE job_id = '%s';\n", id))
		if err != nil {
			return 0, err
		}
		return strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	})
	stop()
	if err != nil {
		return err
	}
	x = ratio(reinsImport, shellImport)
	b.report.add(row{
		figure: fmt.Sprintf("SQLite: import %s rows (%s MB CSV), new-job + upload → COMPLETED vs sqlite3 `.import` into an identical table", count(n), mb(size)),
		reins:  secs(reinsImport), baseline: secs(shellImport), ratio: fmt.Sprintf("%.2f×", x),
		target: "≤ 2×", pass: passMark(x <= 2),
	})
	b.report.note("sqlite: `reins serve --data-dir` with no database URL, %s rows seeded by `reins seed`; the export: median of %d alternating runs of each side after a warm-up of each (sqlite3 %s, Reins %s); the import: one run of each side; the sqlite3 shell (%s) exports with `.headers on`, `.mode csv`, `.output FILE` and the same SELECT, then the harness syncs the file; it imports with `.import --csv --skip 1` into a view over an identical customers table (its DDL copied from Reins' database, the same %s seeded rows, journal_mode WAL, synchronous NORMAL) whose INSTEAD OF trigger inserts the row; Reins' upload was answered after %s",
		count(n), b.opts.repeat, durations(shellTs), durations(reinsTs), sqlite3Version(ctx), count(n), secs(upload))
	return nil
}

func sqlite3Version(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "sqlite3", "-version").Output()
	if err != nil {
		return "version unknown"
	}
	if f := strings.Fields(string(out)); len(f) > 0 {
		return f[0]
	}
	return "version unknown"
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
