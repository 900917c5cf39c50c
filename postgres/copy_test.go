package postgres

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reins-dev/reins"
)

// openScratch opens the backend (unmigrated) on a schema of the test's own in
// TEST_DATABASE_URL's database. (reinstest imports this package, so it cannot serve here.)
func openScratch(t *testing.T) *DB {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TEST_DATABASE_URL is not set (CI sets it, and fails without it)")
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	schema := "reins_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// bulkInsert runs one BulkInsert of rows in its own transaction.
func bulkInsert(ctx context.Context, db *DB, table string, columns []string, rows [][]any) error {
	tx, err := (&conn{db: db}).Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	if err := tx.BulkInsert(ctx, table, columns, len(rows), func(i int, dst []any) { copy(dst, rows[i]) }); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// TestBulkInsertEncodes checks the binary COPY encoder (copy.go) against what Postgres
// stores, for every type it encodes itself and some it leaves to pgx, NULLs included, and
// over more than one chunk.
func TestBulkInsertEncodes(t *testing.T) {
	t.Parallel()
	db := openScratch(t)
	ctx := context.Background()
	if _, err := db.pool.Exec(ctx, `CREATE TABLE t (s text, v varchar(5), i4 integer, i8 bigint,
		at timestamptz, id uuid, ok boolean, n bigint, "Odd Name" text)`); err != nil {
		t.Fatal(err)
	}
	cols := []string{"s", "v", "i4", "i8", "at", "id", "ok", "n", "Odd Name"}
	at := time.Date(2020, 5, 1, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	before2000 := time.Date(1969, 7, 20, 20, 17, 40, 1000, time.UTC)
	id := uuid.New()
	n := int64(-7)
	rows := [][]any{
		{"Zoë, \"quoted\"\n", "abcde", 2147483647, int64(-9007199254740993), at, id, true, &n, "x"},
		{"", "", -2147483648, 0, before2000, nil, false, nil, nil},
		{nil, nil, nil, nil, nil, nil, nil, nil, nil},
	}
	// Enough rows to cross several of the encoder's chunks.
	for i := range 20000 {
		rows = append(rows, []any{strings.Repeat("r", i%50), "", i, int64(i), at, id, true, int64(i), "y"})
	}
	if err := bulkInsert(ctx, db, "t", cols, rows); err != nil {
		t.Fatal(err)
	}
	var s, v, odd *string
	var i4 *int32
	var i8, nn *int64
	var gotAt *time.Time
	var gotID *uuid.UUID
	var ok *bool
	scan := func(where string) {
		t.Helper()
		err := db.pool.QueryRow(ctx, `SELECT s, v, i4, i8, at, id, ok, n, "Odd Name" FROM t WHERE `+where).
			Scan(&s, &v, &i4, &i8, &gotAt, &gotID, &ok, &nn, &odd)
		if err != nil {
			t.Fatal(err)
		}
	}
	scan("s LIKE 'Zo%'")
	if *s != "Zoë, \"quoted\"\n" || *v != "abcde" || *i4 != 2147483647 || *i8 != -9007199254740993 ||
		!gotAt.Equal(at.Truncate(time.Microsecond)) || *gotID != id || !*ok || *nn != -7 || *odd != "x" {
		t.Errorf("row 1 stored as %q %q %d %d %s %s %t %d %q", *s, *v, *i4, *i8, gotAt, gotID, *ok, *nn, *odd)
	}
	scan("s = '' AND i4 < 0")
	if *i4 != -2147483648 || !gotAt.Equal(before2000) || gotID != nil || nn != nil || odd != nil {
		t.Errorf("row 2 stored as %d %s %v %v %v", *i4, gotAt, gotID, nn, odd)
	}
	scan("s IS NULL")
	if s != nil || v != nil || i4 != nil || i8 != nil || gotAt != nil || gotID != nil || ok != nil || nn != nil || odd != nil {
		t.Error("row 3 is not all NULL")
	}
	var count, sum int64
	if err := db.pool.QueryRow(ctx, `SELECT count(*), sum(i8) FROM t WHERE "Odd Name" = 'y'`).Scan(&count, &sum); err != nil {
		t.Fatal(err)
	}
	if count != 20000 || sum != 19999*20000/2 {
		t.Errorf("stored %d rows summing to %d, want 20000 summing to %d", count, sum, 19999*20000/2)
	}

	// Bad values fail the whole insert with Postgres' or pgx's reason; nothing is stored.
	for _, bad := range [][]any{
		{"", "abcdef", 0, 0, at, id, true, nil, ""},        // varchar(5) too long: Postgres refuses
		{"", "", int64(1) << 40, 0, at, id, true, nil, ""}, // out of integer's range
		{"", "", 0, 0, at, id, true, "not a number", ""},   // no encoding for it
		{"a\x00b", "", 0, 0, at, id, true, nil, ""},        // text cannot hold NUL
		{"", "", 0, 0, at, "not a uuid", true, nil, ""},    // pgx refuses it
	} {
		if err := bulkInsert(ctx, db, "t", cols, [][]any{bad}); err == nil {
			t.Errorf("%q: stored", bad)
		}
	}
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&count); err != nil || count != 20003 {
		t.Errorf("after the bad inserts: %d rows (%v), want 20003", count, err)
	}
}

// TestLoadCustomersAsBulkInsert checks that LoadCustomers stores exactly what BulkInsert
// stores for the same customers, job id or none.
func TestLoadCustomersAsBulkInsert(t *testing.T) {
	t.Parallel()
	db := openScratch(t)
	ctx := context.Background()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var customers []reins.Customer
	for i := range 3000 {
		customers = append(customers, reins.Customer{FirstName: "Zoë", LastName: fmt.Sprintf("L%d", i),
			Address: "1 \"Main\" St,\nLondon", Email: fmt.Sprintf("c%d@example.com", i), Age: i % 151,
			Company:   strings.Repeat("c", i%100+1),
			CreatedAt: time.Date(1990+i%40, 2, 3, 4, 5, 6, i*1001, time.FixedZone("x", -7200))})
	}
	load := func(job *uuid.UUID, generic bool) {
		t.Helper()
		tx, err := (&conn{db: db}).Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
		if generic {
			var id any
			if job != nil {
				id = *job
			}
			err = tx.BulkInsert(ctx, "customers", reins.CustomerInsertColumns, len(customers), func(i int, dst []any) {
				c := &customers[i]
				dst[0], dst[1], dst[2], dst[3], dst[4], dst[5], dst[6], dst[7] =
					c.FirstName, c.LastName, c.Address, c.Email, c.Age, c.Company, c.CreatedAt, id
			})
		} else {
			err = reins.InsertCustomers(ctx, tx, job, customers)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a, b := uuid.New(), uuid.New()
	load(&a, false)
	load(&b, true)
	load(nil, false)
	load(nil, true)
	const cols = `first_name, last_name, address, email, age, company, created_at`
	for _, q := range []string{
		`SELECT count(*) FROM (SELECT ` + cols + ` FROM customers WHERE job_id = $1
			EXCEPT ALL SELECT ` + cols + ` FROM customers WHERE job_id = $2) d`,
		`SELECT count(*) FROM (SELECT ` + cols + ` FROM customers WHERE job_id = $2
			EXCEPT ALL SELECT ` + cols + ` FROM customers WHERE job_id = $1) d`,
		`SELECT count(*) - 2 * 3000 FROM customers WHERE job_id IS NULL AND $1::uuid <> $2::uuid`,
		`SELECT count(*) - 3000 FROM customers WHERE job_id = $1 AND created_at IN (SELECT created_at FROM customers WHERE job_id = $2)`,
	} {
		var n int64
		if err := db.pool.QueryRow(ctx, q, a, b).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d", q, n)
		}
	}
	// An import's rows with reserved ids, marked job_ranged, their ranges recorded: the same
	// through LoadCustomers and through BulkInsert.
	c, d := uuid.New(), uuid.New()
	for _, job := range []uuid.UUID{c, d} {
		ids, err := db.ReserveCustomerIDs(ctx, len(customers))
		if err != nil {
			t.Fatal(err)
		}
		ranged := slices.Clone(customers)
		for i := range ranged {
			ranged[i].ID = ids[i]
		}
		tx, err := (&conn{db: db}).Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if job == c {
			err = reins.InsertRangedCustomers(ctx, tx, job, ranged)
		} else {
			err = reins.BulkInsertCustomers(ctx, tx, &job, true, ranged)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`SELECT count(*) FROM (SELECT ` + cols + `, job_ranged FROM customers WHERE job_id = $1
			EXCEPT ALL SELECT ` + cols + `, job_ranged FROM customers WHERE job_id = $2) d`,
		`SELECT count(*) FROM customers WHERE job_id IN ($1, $2) AND job_ranged IS NULL`,
		`SELECT count(*) - 3000 FROM customers WHERE job_id = $1 AND job_ranged AND $2::uuid IS NOT NULL`,
		`SELECT count(*) - 3000 FROM customers c JOIN reins_job_ranges r ON c.id BETWEEN r.lo AND r.hi
			WHERE r.job_id = $1 AND c.job_id = $1 AND $2::uuid IS NOT NULL`,
	} {
		var n int64
		if err := db.pool.QueryRow(ctx, q, c, d).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d", q, n)
		}
	}
	var at time.Time
	if err := db.pool.QueryRow(ctx, `SELECT created_at FROM customers WHERE job_id = $1 AND last_name = 'L7'`, a).Scan(&at); err != nil {
		t.Fatal(err)
	}
	if want := customers[7].CreatedAt.Truncate(time.Microsecond); !at.Equal(want) {
		t.Errorf("created_at stored as %s, want %s", at, want)
	}
}
