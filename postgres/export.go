package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/sqlstore"
)

var _ sqlstore.CSVExporter = (*conn)(nil)

// literal renders a time as a SQL timestamptz literal: COPY takes no bind parameters, and
// these values are Reins' own, never text from a request.
func literal(t time.Time) string {
	return "'" + t.UTC().Format("2006-01-02 15:04:05.999999") + "+00'::timestamptz"
}

// ExportCSV has Postgres write the page as CSV itself (COPY TO), which spares decoding every
// row into Go values and encoding it again. The page's end key comes first from the index.
func (c *conn) ExportCSV(ctx context.Context, w io.Writer, from, to time.Time, after reins.CustomerKey, limit int) (int, reins.CustomerKey, error) {
	lower, afterID := from, int64(-1)
	if !after.CreatedAt.IsZero() {
		lower, afterID = after.CreatedAt, after.ID
	}
	last := after
	upper := ""
	err := c.db.pool.QueryRow(ctx, `SELECT created_at, id FROM customers
		WHERE (created_at, id) > ($1, $2) AND created_at < $3
		ORDER BY created_at, id OFFSET $4 LIMIT 1`, lower, afterID, to, limit-1).Scan(&last.CreatedAt, &last.ID)
	switch {
	case err == nil:
		last.CreatedAt = last.CreatedAt.UTC()
		upper = fmt.Sprintf(" AND (created_at, id) <= (%s, %d)", literal(last.CreatedAt), last.ID)
	case !errors.Is(err, pgx.ErrNoRows):
		return 0, after, err
	}
	conn, err := c.db.pool.Acquire(ctx)
	if err != nil {
		return 0, after, err
	}
	defer conn.Release()
	tag, err := conn.Conn().PgConn().CopyTo(ctx, w, fmt.Sprintf(`COPY (
		SELECT first_name, last_name, address, email, age, company FROM customers
		WHERE (created_at, id) > (%s, %d) AND created_at < %s%s
		ORDER BY created_at, id) TO STDOUT WITH (FORMAT csv)`, literal(lower), afterID, literal(to), upper))
	if err != nil {
		return 0, after, err
	}
	n := int(tag.RowsAffected())
	if upper == "" && n > 0 {
		// The last page, shorter than limit: it ends the export, so its key only matters
		// to a reader of the checkpoint; read it for the record.
		if err := c.db.pool.QueryRow(ctx, `SELECT created_at, id FROM customers
			WHERE (created_at, id) > ($1, $2) AND created_at < $3
			ORDER BY created_at DESC, id DESC LIMIT 1`, lower, afterID, to).Scan(&last.CreatedAt, &last.ID); err != nil {
			return 0, after, err
		}
		last.CreatedAt = last.CreatedAt.UTC()
	}
	return n, last, nil
}
