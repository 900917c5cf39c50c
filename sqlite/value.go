package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/reins-dev/reins/sqlstore"
)

// timeFormat stores times as fixed-width UTC text, so SQL comparisons of the text compare
// the times.
const timeFormat = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func uuidArg(id *uuid.UUID) any {
	if id == nil {
		return nil
	}
	return id.String()
}

// convertArgs maps the Go types sqlstore passes to the ones this schema stores.
func convertArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case time.Time:
			out[i] = formatTime(v)
		case *time.Time:
			if v == nil {
				out[i] = nil
			} else {
				out[i] = formatTime(*v)
			}
		case uuid.UUID:
			out[i] = v.String()
		case *uuid.UUID:
			out[i] = uuidArg(v)
		case *int64:
			if v == nil {
				out[i] = nil
			} else {
				out[i] = *v
			}
		default:
			out[i] = a
		}
	}
	return out
}

// timeScanner scans stored time text into a *time.Time or a **time.Time.
type timeScanner struct {
	t  *time.Time
	pt **time.Time
}

func (s timeScanner) Scan(src any) error {
	if src == nil {
		if s.pt != nil {
			*s.pt = nil
			return nil
		}
		return fmt.Errorf("NULL time")
	}
	var text string
	switch v := src.(type) {
	case string:
		text = v
	case []byte:
		text = string(v)
	case time.Time:
		return s.set(v.UTC())
	default:
		return fmt.Errorf("cannot scan %T into a time", src)
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return err
	}
	return s.set(t.UTC())
}

func (s timeScanner) set(t time.Time) error {
	if s.pt != nil {
		*s.pt = &t
	} else {
		*s.t = t
	}
	return nil
}

func convertDest(dest []any) []any {
	out := make([]any, len(dest))
	for i, d := range dest {
		switch v := d.(type) {
		case *time.Time:
			out[i] = timeScanner{t: v}
		case **time.Time:
			out[i] = timeScanner{pt: v}
		default:
			out[i] = d
		}
	}
	return out
}

// sqlQuerier is what *sql.DB and *sql.Tx have in common.
type sqlQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// querier adapts database/sql to sqlstore.Querier.
type querier struct{ q sqlQuerier }

func (q *querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.q.ExecContext(ctx, query, convertArgs(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q *querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.q.QueryContext(ctx, query, convertArgs(args)...)
	if err != nil {
		return nil, err
	}
	return &sqlRows{rows}, nil
}

func (q *querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return sqlRow{q.q.QueryRowContext(ctx, query, convertArgs(args)...)}
}

type sqlRow struct{ r *sql.Row }

func (r sqlRow) Scan(dest ...any) error { return r.r.Scan(convertDest(dest)...) }

type sqlRows struct{ r *sql.Rows }

func (r *sqlRows) Next() bool             { return r.r.Next() }
func (r *sqlRows) Scan(dest ...any) error { return r.r.Scan(convertDest(dest)...) }
func (r *sqlRows) Err() error             { return r.r.Err() }
func (r *sqlRows) Close()                 { r.r.Close() }
