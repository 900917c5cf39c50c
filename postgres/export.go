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

var _ sqlstore.CSVExporter = (*conn)(nil)

// ExportCSV has Postgres write the page as CSV itself (COPY TO), which spares decoding every
// row into Go values and encoding it again. COPY takes no bind parameters, so the values go
// in as parameters of set_config, local to the page's transaction, and the statement reads
// them back with current_setting: no value is ever spliced into SQL text.
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
			legacy = ` AND (created_at > current_setting('reins.key_at')::timestamptz
				OR (created_at = current_setting('reins.key_at')::timestamptz AND id > current_setting('reins.key_id')::bigint))`
		}
		tag, err := tx.Conn().PgConn().CopyTo(ctx, w, `COPY (SELECT `+selectList(q)+` FROM (
			SELECT * FROM customers
			WHERE id > current_setting('reins.after_id')::bigint AND id <= current_setting('reins.upto_id')::bigint
			ORDER BY id OFFSET 0) page
			WHERE created_at >= current_setting('reins.from')::timestamptz AND created_at < current_setting('reins.to')::timestamptz
			AND id <= current_setting('reins.max_id')::bigint`+legacy+`
			ORDER BY id) TO STDOUT WITH (FORMAT csv)`)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// selectList renders the export's columns as SQL: created_at in RFC 3339 with microseconds,
// and, when asked, text cells a spreadsheet would run as formulas prefixed with a quote. The
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
				exprs[i] = fmt.Sprintf(`CASE WHEN substr(%[1]s, 1, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) THEN '''' || %[1]s ELSE %[1]s END`, pgx.Identifier{col}.Sanitize())
			} else {
				exprs[i] = pgx.Identifier{col}.Sanitize()
			}
		}
	}
	return strings.Join(exprs, ", ")
}
