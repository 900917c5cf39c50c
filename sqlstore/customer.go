package sqlstore

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// customerFilter is the WHERE clause of an export's customers after its first n parameters,
// and the arguments it adds: the range, the snapshot's bound, and an older release's
// position in (created_at, id) order.
func customerFilter(q *reins.CustomerQuery, n int) (string, []any) {
	where := fmt.Sprintf("created_at >= $%d AND created_at < $%d AND id <= $%d", n+1, n+2, n+3)
	args := []any{q.From, q.To, q.MaxID}
	if q.After != nil {
		where += fmt.Sprintf(" AND (created_at > $%d OR (created_at = $%d AND id > $%d))", n+4, n+4, n+5)
		args = append(args, q.After.CreatedAt, q.After.ID)
	}
	return where, args
}

// CountCustomers implements reins.CustomerStore: through the Conn's own counter when it has
// one.
func (s *Store) CountCustomers(ctx context.Context, q *reins.CustomerQuery) (n, minID, maxID int64, err error) {
	where, args := customerFilter(q, 0)
	query := `SELECT COUNT(*), COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) FROM customers WHERE ` + where
	if c, ok := s.conn.(CustomerCounter); ok {
		n, minID, maxID, err = c.CountCustomers(ctx, query, args)
		return n, minID, maxID, s.wrap(err)
	}
	err = s.conn.QueryRow(ctx, query, args...).Scan(&n, &minID, &maxID)
	return n, minID, maxID, s.wrap(err)
}

// CustomersWithin reports whether every customer was created in q's range (the oldest and
// newest created_at lie in it), and the least and greatest customer id: then the export of q
// is every customer up to its snapshot's bound, and its walk's bounds need no count. Each
// value is one lookup at an end of an index.
func (s *Store) CustomersWithin(ctx context.Context, q *reins.CustomerQuery) (within bool, minID, maxID int64, err error) {
	err = s.conn.QueryRow(ctx, `SELECT COALESCE((SELECT MIN(created_at) FROM customers) >= $1
		AND (SELECT MAX(created_at) FROM customers) < $2, false),
		COALESCE((SELECT MIN(id) FROM customers), 0), COALESCE((SELECT MAX(id) FROM customers), 0)`,
		q.From, q.To).Scan(&within, &minID, &maxID)
	return within, minID, maxID, s.wrap(err)
}

// CustomerCounter is what a Conn implements when it runs an export's count (the query
// CountCustomers builds, returning the rows and their least and greatest id) better than
// as a plain query.
type CustomerCounter interface {
	CountCustomers(ctx context.Context, query string, args []any) (n, minID, maxID int64, err error)
}

// CSVExporter is what a Conn implements when its database writes CSV faster than encoding
// it here (Postgres' COPY TO).
type CSVExporter interface {
	ExportCSV(ctx context.Context, w io.Writer, q *reins.CustomerQuery, afterID, uptoID int64) (int64, error)
}

// DatabaseCSV is what a CSVExporter implements when the database itself writes the CSV
// (Postgres' COPY TO), each page on a connection of its own from a pool. SQLite's exporter
// encodes each cell in Go, on the one connection every statement shares.
type DatabaseCSV interface {
	CSVExporter
	DatabaseWritesCSV()
}

// ExportReadsAhead reports whether an export may read its next page while its last batch
// commits: where the database writes pages itself on a connection of its own (DatabaseCSV).
// On SQLite the one connection would make the commit, and every other statement, wait for
// the read.
func (s *Store) ExportReadsAhead() bool {
	_, ok := s.conn.(DatabaseCSV)
	return ok
}

// ExportWritesCSV reports whether the database writes an export's pages as CSV itself
// (DatabaseCSV): then finding cells to escape in the bytes written costs less than having
// the database test every cell. On SQLite each cell is encoded (and escaped) in Go anyway.
func (s *Store) ExportWritesCSV() bool {
	_, ok := s.conn.(DatabaseCSV)
	return ok
}

// ExportCSV implements reins.CustomerStore: through the Conn's own exporter when it has
// one, and otherwise by reading the page and encoding it. A page is a short read: on SQLite
// a long one would block every other statement.
func (s *Store) ExportCSV(ctx context.Context, w io.Writer, q *reins.CustomerQuery, afterID, uptoID int64) (int64, error) {
	if x, ok := s.conn.(CSVExporter); ok {
		n, err := x.ExportCSV(ctx, w, q, afterID, uptoID)
		return n, s.wrap(err)
	}
	where, args := customerFilter(q, 2)
	rows, err := s.conn.Query(ctx, `SELECT first_name, last_name, address, email, age, company, created_at
		FROM customers WHERE id > $1 AND id <= $2 AND `+where+` ORDER BY id`, append([]any{afterID, uptoID}, args...)...)
	if err != nil {
		return 0, s.wrap(err)
	}
	defer rows.Close()
	cw := csv.NewWriter(w)
	record := make([]string, len(q.Columns))
	var c reins.Customer
	var n int64
	for rows.Next() {
		if err := rows.Scan(&c.FirstName, &c.LastName, &c.Address, &c.Email, &c.Age, &c.Company, &c.CreatedAt); err != nil {
			return 0, err
		}
		for i, col := range q.Columns {
			record[i] = customerField(&c, col, q.EscapeFormulas)
		}
		if err := cw.Write(record); err != nil {
			return 0, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, s.wrap(err)
	}
	cw.Flush()
	return n, cw.Error()
}

// customerField renders one column of a customer as an export writes it.
func customerField(c *reins.Customer, col string, escape bool) string {
	var v string
	switch col {
	case "first_name":
		v = c.FirstName
	case "last_name":
		v = c.LastName
	case "address":
		v = c.Address
	case "email":
		v = c.Email
	case "age":
		return strconv.Itoa(c.Age)
	case "company":
		v = c.Company
	case "created_at":
		return c.CreatedAt.UTC().Format(reins.ExportTimeLayout)
	}
	if escape && reins.IsFormula(v) {
		return "'" + v
	}
	return v
}

// CountImported implements reins.CustomerStore.
func (s *Store) CountImported(ctx context.Context, jobID uuid.UUID) (int64, int64, error) {
	var rows, emails int64
	if err := s.conn.QueryRow(ctx, `SELECT COUNT(*), COUNT(DISTINCT email) FROM customers WHERE job_id = $1`,
		jobID).Scan(&rows, &emails); err != nil {
		return 0, 0, s.wrap(err)
	}
	return rows, emails, nil
}

// seedChunk is how many generated rows one seeding transaction loads.
const seedChunk = 50_000

// SeedCustomers implements reins.CustomerStore.
func (s *Store) SeedCustomers(ctx context.Context, n int64, gen func(i int64) reins.Customer) error {
	buf := make([]reins.Customer, 0, seedChunk)
	for start := int64(0); start < n; start += seedChunk {
		buf = buf[:0]
		for i := start; i < n && i < start+seedChunk; i++ {
			buf = append(buf, gen(i))
		}
		if err := s.inTx(ctx, func(tx Tx) error { return reins.InsertCustomers(ctx, tx, nil, buf) }); err != nil {
			return err
		}
	}
	return nil
}

// demoColumns are the columns SeedDemoCustomers fills: a customer's and its place in the seed.
var demoColumns = []string{"first_name", "last_name", "address", "email", "age", "company", "created_at", "demo_of", "demo_index"}

// SeedDemoCustomers implements reins.CustomerStore. Demo customers are the rows with demo_of
// set: the n of the seed that made them, and their index in it. The old demo customers are
// deleted and the new ones inserted in chunks, each its own transaction, so that a server
// running meanwhile (on SQLite, the only writer at a time) is held up for a chunk at most; a
// seed that dies midway leaves a count that the next one finds wrong, and redoes.
func (s *Store) SeedDemoCustomers(ctx context.Context, n int64, gen func(i int64) reins.Customer) (bool, error) {
	var all, same int64
	if err := s.conn.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN demo_of = $1 THEN 1 ELSE 0 END), 0)
		FROM customers WHERE demo_of IS NOT NULL`, n).Scan(&all, &same); err != nil {
		return false, s.wrap(fmt.Errorf("count demo customers: %w", err))
	}
	if all == n && same == n {
		return false, nil
	}
	for {
		deleted, err := s.conn.Exec(ctx, `DELETE FROM customers WHERE id IN
			(SELECT id FROM customers WHERE demo_of IS NOT NULL LIMIT $1)`, seedChunk)
		if err != nil {
			return false, s.wrap(fmt.Errorf("delete demo customers: %w", err))
		}
		if deleted == 0 {
			break
		}
	}
	buf := make([]reins.Customer, 0, seedChunk)
	for start := int64(0); start < n; start += seedChunk {
		buf = buf[:0]
		for i := start; i < n && i < start+seedChunk; i++ {
			buf = append(buf, gen(i))
		}
		err := s.inTx(ctx, func(tx Tx) error {
			return tx.BulkInsert(ctx, "customers", demoColumns, len(buf), func(i int, dst []any) {
				c := &buf[i]
				dst[0], dst[1], dst[2], dst[3], dst[4], dst[5], dst[6], dst[7], dst[8] =
					c.FirstName, c.LastName, c.Address, c.Email, c.Age, c.Company, c.CreatedAt, n, start+int64(i)
			})
		})
		if err != nil {
			return false, err
		}
	}
	return true, nil
}
