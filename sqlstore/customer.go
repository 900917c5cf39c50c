package sqlstore

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// CountCustomers implements reins.CustomerStore.
func (s *Store) CountCustomers(ctx context.Context, from, to time.Time) (int64, error) {
	var n int64
	if err := s.conn.QueryRow(ctx, `SELECT COUNT(*) FROM customers WHERE created_at >= $1 AND created_at < $2`,
		from, to).Scan(&n); err != nil {
		return 0, s.wrap(err)
	}
	return n, nil
}

// ListCustomers implements reins.CustomerStore. It reads one keyset page, never a long
// cursor: on SQLite a long read would block every other statement.
func (s *Store) ListCustomers(ctx context.Context, from, to time.Time, after reins.CustomerKey, limit int) ([]reins.Customer, error) {
	lower, afterID := from, int64(-1)
	if !after.CreatedAt.IsZero() {
		lower, afterID = after.CreatedAt, after.ID
	}
	rows, err := s.conn.Query(ctx, `SELECT id, first_name, last_name, address, email, age, company, created_at
		FROM customers
		WHERE (created_at, id) > ($1, $2) AND created_at < $3
		ORDER BY created_at, id LIMIT $4`, lower, afterID, to, limit)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	out := make([]reins.Customer, 0, limit)
	for rows.Next() {
		var c reins.Customer
		if err := rows.Scan(&c.ID, &c.FirstName, &c.LastName, &c.Address, &c.Email, &c.Age, &c.Company, &c.CreatedAt); err != nil {
			return nil, err
		}
		c.CreatedAt = c.CreatedAt.UTC()
		out = append(out, c)
	}
	return out, s.wrap(rows.Err())
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

// CSVExporter is what a Conn implements when its database writes CSV faster than encoding
// it here (Postgres' COPY TO).
type CSVExporter interface {
	ExportCSV(ctx context.Context, w io.Writer, from, to time.Time, after reins.CustomerKey, limit int) (int, reins.CustomerKey, error)
}

// ExportCSV implements reins.CustomerStore: through the Conn's own exporter when it has
// one, and otherwise by reading a keyset page and encoding it.
func (s *Store) ExportCSV(ctx context.Context, w io.Writer, from, to time.Time, after reins.CustomerKey, limit int) (int, reins.CustomerKey, error) {
	if x, ok := s.conn.(CSVExporter); ok {
		n, last, err := x.ExportCSV(ctx, w, from, to, after, limit)
		return n, last, s.wrap(err)
	}
	rows, err := s.ListCustomers(ctx, from, to, after, limit)
	if err != nil {
		return 0, after, err
	}
	cw := csv.NewWriter(w)
	record := make([]string, len(reins.CustomerColumns))
	for i := range rows {
		c := &rows[i]
		record[0], record[1], record[2], record[3] = c.FirstName, c.LastName, c.Address, c.Email
		record[4], record[5] = strconv.Itoa(c.Age), c.Company
		if err := cw.Write(record); err != nil {
			return 0, after, err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return 0, after, err
	}
	if n := len(rows); n > 0 {
		after = reins.CustomerKey{CreatedAt: rows[n-1].CreatedAt, ID: rows[n-1].ID}
	}
	return len(rows), after, nil
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
		if err := s.inTx(ctx, func(tx Tx) error { return tx.InsertCustomers(ctx, nil, buf) }); err != nil {
			return err
		}
	}
	return nil
}
