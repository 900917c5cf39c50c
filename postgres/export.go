package postgres

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/sqlstore"
)

var (
	_ sqlstore.DatabaseCSV     = (*conn)(nil)
	_ sqlstore.CustomerCounter = (*conn)(nil)
)

// DatabaseWritesCSV implements sqlstore.DatabaseCSV: COPY TO writes each page, on a
// connection of the pool's own.
func (c *conn) DatabaseWritesCSV() {}

// CountCustomers counts an export's rows through the (created_at, id) index alone. Left to
// itself the planner counts a wide range with a parallel sequential scan: three processes
// reading the whole heap, 0.3-0.4 s and about three times that in CPU for 1M rows, before
// the first page. The index-only scan reads (created_at, id) and nothing else (the table's
// visibility map spares the heap) in one process, in a third to a half of the time
// (docs/benchmarks.md, "Export: where the time went"). The settings are local to the
// count's transaction.
func (c *conn) CountCustomers(ctx context.Context, query string, args []any) (n, minID, maxID int64, err error) {
	err = pgx.BeginFunc(ctx, c.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off; SET LOCAL max_parallel_workers_per_gather = 0`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, query, args...).Scan(&n, &minID, &maxID)
	})
	return n, minID, maxID, err
}

// ExportCSV has Postgres write the page as CSV itself (COPY TO), which spares decoding every
// row into Go values and encoding it again. COPY takes no bind parameters, so the values go
// in as parameters of set_config, local to the page's transaction, and the statement reads
// them back with current_setting: no value is ever spliced into SQL text.
//
// Each current_setting is wrapped in a scalar subquery, which Postgres runs once per page
// as an InitPlan. Bare, it sits in the row filter and is called, and its text parsed as a
// timestamptz, for every row: that was most of the Postgres CPU an export cost (1M rows:
// 6.1 s against 2.2 s for the same COPY with the values evaluated once; docs/benchmarks.md,
// "Export: where the time went").
//
// The page's rows are found through the primary key: the subquery with OFFSET 0 keeps the
// planner from walking the created_at index over the whole range for every page.
func (c *conn) ExportCSV(ctx context.Context, w io.Writer, q *reins.CustomerQuery, afterID, uptoID int64) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, c.db.pool, func(tx pgx.Tx) error {
		after := reins.CustomerKey{}
		if q.After != nil {
			after = *q.After
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('reins.after_id', $1::bigint::text, true),
			set_config('reins.upto_id', $2::bigint::text, true), set_config('reins.max_id', $3::bigint::text, true),
			set_config('reins.from', $4::timestamptz::text, true), set_config('reins.to', $5::timestamptz::text, true),
			set_config('reins.key_at', $6::timestamptz::text, true), set_config('reins.key_id', $7::bigint::text, true)`,
			afterID, uptoID, q.MaxID, q.From, q.To, after.CreatedAt, after.ID); err != nil {
			return err
		}
		legacy := ""
		if q.After != nil {
			legacy = ` AND (created_at > (SELECT current_setting('reins.key_at')::timestamptz)
				OR (created_at = (SELECT current_setting('reins.key_at')::timestamptz)
					AND id > (SELECT current_setting('reins.key_id')::bigint)))`
		}
		tag, err := tx.Conn().PgConn().CopyTo(ctx, w, `COPY (SELECT `+selectList(q)+` FROM (
			SELECT * FROM customers
			WHERE id > (SELECT current_setting('reins.after_id')::bigint)
			AND id <= (SELECT current_setting('reins.upto_id')::bigint)
			ORDER BY id OFFSET 0) page
			WHERE created_at >= (SELECT current_setting('reins.from')::timestamptz)
			AND created_at < (SELECT current_setting('reins.to')::timestamptz)
			AND id <= (SELECT current_setting('reins.max_id')::bigint)`+legacy+`
			ORDER BY id) TO STDOUT WITH (FORMAT csv)`)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// selectList renders the export's columns as SQL: created_at in RFC 3339 with microseconds,
// and, when asked, text cells a spreadsheet would run as formulas (reins.IsFormula: starting
// with =, +, -, @, tab or carriage return) prefixed with a quote. The
// column names come from reins.CustomerColumnsWithCreatedAt, checked by the export's params.
func selectList(q *reins.CustomerQuery) string {
	exprs := make([]string, len(q.Columns))
	for i, col := range q.Columns {
		switch col {
		case "age":
			exprs[i] = "age"
		case "created_at":
			exprs[i] = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
		default:
			if q.EscapeFormulas {
				// ascii() of the first character (0 for ''), compared as integers, costs a
				// fraction of substr(...) IN ('=', ...), which builds a string per cell.
				exprs[i] = fmt.Sprintf(`CASE WHEN ascii(%[1]s) IN (61, 43, 45, 64, 9, 13) THEN '''' || %[1]s ELSE %[1]s END`, pgx.Identifier{col}.Sanitize())
			} else {
				exprs[i] = pgx.Identifier{col}.Sanitize()
			}
		}
	}
	return strings.Join(exprs, ", ")
}
