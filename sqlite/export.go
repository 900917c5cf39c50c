package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/sqlstore"
)

var _ sqlstore.CSVExporter = (*conn)(nil)

// ExportCSV writes a page of an export as CSV straight from the driver's bytes, the line
// built by appending into a reused buffer. created_at is stored in the export's own layout
// (timeFormat is reins.ExportTimeLayout), so it is written as stored. The output is byte
// for byte what encoding/csv writes for the same values (csvField).
//
// Each row comes as one text: the id and the asked cells joined by cellSep. The pure-Go
// driver spends most of a row's time on each column it hands over (a call through its
// mutexes, a type check, a copy), so one column instead of six took a 1M-row read from
// 2.6-3.0 s to 1.7-2.0 s (docs/benchmarks.md, "SQLite export: one column a row"). A row
// whose cells hold cellSep themselves cannot be split: from it on, the page is read a
// column a cell.
func (c *conn) ExportCSV(ctx context.Context, w io.Writer, q *reins.CustomerQuery, afterID, uptoID int64) (int64, error) {
	p, err := newExportPage(q)
	if err != nil {
		return 0, err
	}
	n, last, err := p.write(ctx, c.db.db, w, afterID, uptoID, true)
	if err != errCellSep {
		return n, err
	}
	m, _, err := p.write(ctx, c.db.db, w, last, uptoID, false)
	return n + m, err
}

// cellSep joins a row's cells in the one text the export reads of it (ExportCSV): the ASCII
// unit separator, which a cell may hold but hardly ever does.
const cellSep = 0x1f

// errCellSep says that a row's cells hold cellSep, so its text cannot be split.
var errCellSep = errors.New("a cell holds the export's separator")

// exportPage is how an export's pages are read and written: the asked columns and what
// each needs.
type exportPage struct {
	q     *reins.CustomerQuery
	cols  []string
	text  []bool // a text cell a spreadsheet might run as a formula
	stamp []bool // created_at
}

func newExportPage(q *reins.CustomerQuery) (*exportPage, error) {
	p := &exportPage{q: q, cols: make([]string, len(q.Columns)), text: make([]bool, len(q.Columns)),
		stamp: make([]bool, len(q.Columns))}
	for i, col := range q.Columns {
		if !validColumn(col) {
			return nil, fmt.Errorf("export: unknown column %q", col)
		}
		p.cols[i] = `"` + col + `"`
		p.text[i] = q.EscapeFormulas && col != "age" && col != "created_at"
		p.stamp[i] = col == "created_at"
	}
	return p, nil
}

// write writes the rows with ids in (after, upto] to w, each row read as one joined text
// (joined) or a column a cell. A joined row that cannot be split ends it with errCellSep,
// the rows before it written, and last the id of the last of them (after if none).
func (p *exportPage) write(ctx context.Context, db *sql.DB, w io.Writer, after, upto int64, joined bool) (n, last int64, err error) {
	q := p.q
	where := `id > ? AND id <= ? AND created_at >= ? AND created_at < ? AND id <= ?`
	args := []any{after, upto, formatTime(q.From), formatTime(q.To), q.MaxID}
	if q.After != nil {
		where += ` AND (created_at > ? OR (created_at = ? AND id > ?))`
		at := formatTime(q.After.CreatedAt)
		args = append(args, at, at, q.After.ID)
	}
	sel := strings.Join(p.cols, ", ")
	if joined {
		sel = `id||char(31)||` + strings.Join(p.cols, `||char(31)||`)
	}
	rows, err := db.QueryContext(ctx, `SELECT `+sel+` FROM customers WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return 0, after, err
	}
	defer rows.Close()
	raw := make([]sql.RawBytes, len(p.cols))
	var dest []any
	var whole sql.RawBytes
	if joined {
		dest = []any{&whole}
	} else {
		for i := range raw {
			dest = append(dest, &raw[i])
		}
	}
	var line, lastID []byte
	// stuck is the errCellSep return: the id of the last row written, parsed only then.
	stuck := func() (int64, int64, error) {
		if n == 0 {
			return 0, after, errCellSep
		}
		id, err := strconv.ParseInt(string(lastID), 10, 64)
		if err != nil {
			return n, after, fmt.Errorf("export: a row's id %q: %w", lastID, err)
		}
		return n, id, errCellSep
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, after, err
		}
		if joined {
			id, ok := splitCells(whole, raw)
			if !ok {
				return stuck()
			}
			lastID = append(lastID[:0], id...)
		}
		line = line[:0]
		for i, v := range raw {
			if i > 0 {
				line = append(line, ',')
			}
			if p.stamp[i] && !storedTime(v) {
				t, err := time.Parse(time.RFC3339Nano, string(v))
				if err != nil {
					return n, after, fmt.Errorf("export: customer created_at %q: %w", v, err)
				}
				v = []byte(t.UTC().Format(reins.ExportTimeLayout))
			}
			// Only the first byte decides, and a one-byte string costs no allocation.
			line = csvField(line, v, p.text[i] && len(v) > 0 && reins.IsFormula(string(v[:1])))
		}
		line = append(line, '\n')
		if _, err := w.Write(line); err != nil {
			return n, after, err
		}
		n++
	}
	return n, after, rows.Err()
}

// splitCells splits a row read as one text (id, then the cells, joined by cellSep) into
// cells, which alias it, and returns the id's bytes. A row with more or fewer separators
// than cells does not split (false).
func splitCells(whole []byte, cells []sql.RawBytes) ([]byte, bool) {
	i := bytes.IndexByte(whole, cellSep)
	if i < 0 {
		return nil, false
	}
	id, rest := whole[:i], whole[i+1:]
	for k := range cells {
		j := bytes.IndexByte(rest, cellSep)
		if k == len(cells)-1 {
			if j >= 0 {
				return nil, false
			}
			cells[k] = rest
			break
		}
		if j < 0 {
			return nil, false
		}
		cells[k], rest = rest[:j], rest[j+1:]
	}
	return id, true
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
