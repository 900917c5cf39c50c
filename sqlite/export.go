package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/sqlstore"
)

var _ sqlstore.CSVExporter = (*conn)(nil)

// ExportCSV writes a page of an export as CSV straight from the driver's bytes: only the
// asked columns are read, each into a reused buffer, and the line is built by appending, so
// a row costs no allocation here beyond what the driver makes. created_at is stored in the
// export's own layout (timeFormat is reins.ExportTimeLayout), so it is written as stored.
// The output is byte for byte what encoding/csv writes for the same values (csvField).
func (c *conn) ExportCSV(ctx context.Context, w io.Writer, q *reins.CustomerQuery, afterID, uptoID int64) (int64, error) {
	cols := make([]string, len(q.Columns))
	text := make([]bool, len(q.Columns))  // a text cell a spreadsheet might run as a formula
	stamp := make([]bool, len(q.Columns)) // created_at
	for i, col := range q.Columns {
		if !validColumn(col) {
			return 0, fmt.Errorf("export: unknown column %q", col)
		}
		cols[i] = `"` + col + `"`
		text[i] = q.EscapeFormulas && col != "age" && col != "created_at"
		stamp[i] = col == "created_at"
	}
	where := `id > ? AND id <= ? AND created_at >= ? AND created_at < ? AND id <= ?`
	args := []any{afterID, uptoID, formatTime(q.From), formatTime(q.To), q.MaxID}
	if q.After != nil {
		where += ` AND (created_at > ? OR (created_at = ? AND id > ?))`
		at := formatTime(q.After.CreatedAt)
		args = append(args, at, at, q.After.ID)
	}
	rows, err := c.db.db.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM customers WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	raw := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	var line []byte
	var n int64
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, err
		}
		line = line[:0]
		for i, v := range raw {
			if i > 0 {
				line = append(line, ',')
			}
			if stamp[i] && !storedTime(v) {
				t, err := time.Parse(time.RFC3339Nano, string(v))
				if err != nil {
					return n, fmt.Errorf("export: customer created_at %q: %w", v, err)
				}
				v = []byte(t.UTC().Format(reins.ExportTimeLayout))
			}
			// Only the first byte decides, and a one-byte string costs no allocation.
			line = csvField(line, v, text[i] && len(v) > 0 && reins.IsFormula(string(v[:1])))
		}
		line = append(line, '\n')
		if _, err := w.Write(line); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// validColumn reports whether col is a column an export may name.
func validColumn(col string) bool {
	for _, c := range reins.CustomerColumnsWithCreatedAt {
		if c == col {
			return true
		}
	}
	return false
}

// storedTime reports whether v has the shape formatTime writes (and so the export's layout).
func storedTime(v []byte) bool {
	return len(v) == len(timeFormat) && v[10] == 'T' && v[len(v)-1] == 'Z'
}

// csvField appends v to dst as encoding/csv's Writer (comma, no CRLF) writes a field, after
// a ' when quote is set: quoted when it holds a comma, a quote, CR or LF, starts with a
// space, or is `\.`; a quote inside doubled.
func csvField(dst, v []byte, quote bool) []byte {
	if quote {
		if !needsQuotes(v, true) {
			return append(append(dst, '\''), v...)
		}
		dst = append(dst, '"', '\'')
		return appendQuoted(dst, v)
	}
	if !needsQuotes(v, false) {
		return append(dst, v...)
	}
	dst = append(dst, '"')
	return appendQuoted(dst, v)
}

// needsQuotes is encoding/csv's fieldNeedsQuotes, for v behind a ' when prefixed is set.
func needsQuotes(v []byte, prefixed bool) bool {
	if !prefixed {
		if len(v) == 0 {
			return false
		}
		if string(v) == `\.` {
			return true
		}
	}
	for _, c := range v {
		if c == '\n' || c == '\r' || c == '"' || c == ',' {
			return true
		}
	}
	if prefixed {
		return false // the field starts with ', not a space
	}
	r, _ := utf8.DecodeRune(v)
	return unicode.IsSpace(r)
}

// appendQuoted appends the rest of a quoted field: v with its quotes doubled, and the
// closing quote.
func appendQuoted(dst, v []byte) []byte {
	for _, c := range v {
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}
