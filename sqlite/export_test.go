package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/reins-dev/reins"
)

// TestCSVFieldMatchesEncodingCSV checks the export's hand-built lines against encoding/csv,
// which the export wrote through before (and the other store's tests compare with): every
// cell, with and without the formula prefix, must come out byte for byte the same.
func TestCSVFieldMatchesEncodingCSV(t *testing.T) {
	cells := []string{"", " ", "a", " lead", "\tx", "trail ", `\.`, `\.x`, `"`, `a"b`, "a,b", "a\nb", "a\r\nb", "\r",
		"=1+2", "+x", "-", "@SUM(A1)", "\u00a0nbsp", "\u3000ideographic", "é,\"", "x\x00y", "plain text 123"}
	f := func(cell string, prefix bool) {
		t.Helper()
		want := cell
		if prefix {
			want = "'" + cell
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		_ = w.Write([]string{want, want})
		w.Flush()
		got := csvField(nil, []byte(cell), prefix)
		got = append(got, ',')
		got = csvField(got, []byte(cell), prefix)
		got = append(got, '\n')
		if !bytes.Equal(got, buf.Bytes()) {
			t.Errorf("cell %q (prefix %v): got %q, encoding/csv writes %q", cell, prefix, got, buf.Bytes())
		}
	}
	for _, c := range cells {
		f(c, false)
		f(c, true)
	}
}

func FuzzCSVField(f *testing.F) {
	f.Add("a\"b,c", true)
	f.Add(" x", false)
	f.Fuzz(func(t *testing.T, cell string, prefix bool) {
		want := cell
		if prefix {
			want = "'" + cell
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		if err := w.Write([]string{want}); err != nil {
			t.Skip()
		}
		w.Flush()
		got := append(csvField(nil, []byte(cell), prefix), '\n')
		if !bytes.Equal(got, buf.Bytes()) {
			t.Fatalf("cell %q (prefix %v): got %q, encoding/csv writes %q", cell, prefix, got, buf.Bytes())
		}
	})
}

// TestExportCSVJoinedRows exports rows whose cells hold what a joined row could be mistaken
// by: the separator itself (cellSep), empty cells, quotes, commas, line breaks, formulas, a
// NUL, in the first, a middle and the last row of a page. The page must be byte for byte
// what encoding/csv writes of the cells as a plain SELECT reads them, and every row must be
// there once; a row that cannot be split sends the rest of the page down the column path.
func TestExportCSVJoinedRows(t *testing.T) {
	db, err := Open(t.TempDir() + "/reins.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rows := [][]string{
		{"sep\x1fat the start", "Lee", "1 Road", "a@example.com", "30", "Acme"},
		{"Ann", "Lee", "1 Road, Town", "b@example.com", "31", "Acme"},
		{"=cmd|' /C calc'!A0", `say "hi"`, "line\nbreak", "c@example.com", "32", "@SUM(A1)"},
		{"Bo", "", " lead", "d@example.com", "33", "x\x00y"},
		{"Cy", "Dee", "two\x1f\x1fseps", "e@example.com", "34", "\x1f"},
		{"Di", "Eve", `\.`, "f@example.com", "35", "-1"},
		{"last", "row", "r\r\n", "g@example.com", "36", "trailing\x1f"},
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	for i, r := range rows {
		if _, err := db.db.ExecContext(ctx, `INSERT INTO customers (first_name, last_name, address, email, age, company, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, r[0], r[1], r[2], r[3], r[4], r[5], formatTime(at.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	c := &conn{querier: querier{q: db.db}, db: db}
	columnSets := [][]string{reins.CustomerColumns, {"company", "email"}, reins.CustomerColumnsWithCreatedAt}
	for _, cols := range columnSets {
		for _, escape := range []bool{false, true} {
			for _, span := range [][2]int64{{0, 7}, {1, 7}, {1, 4}, {2, 3}, {5, 7}} {
				q := &reins.CustomerQuery{From: at.Add(-time.Hour), To: at.Add(time.Hour), MaxID: 7,
					Columns: cols, EscapeFormulas: escape}
				var got bytes.Buffer
				n, err := c.ExportCSV(ctx, &got, q, span[0], span[1])
				if err != nil {
					t.Fatal(err)
				}
				var want bytes.Buffer
				w := csv.NewWriter(&want)
				for id := span[0] + 1; id <= span[1]; id++ {
					cells := make([]string, len(cols))
					dest := make([]any, len(cols))
					for i := range cells {
						dest[i] = &cells[i]
					}
					if err := db.db.QueryRowContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM customers WHERE id = ?`, id).Scan(dest...); err != nil {
						t.Fatal(err)
					}
					for i, v := range cells {
						if escape && cols[i] != "age" && cols[i] != "created_at" && reins.IsFormula(v) {
							cells[i] = "'" + v
						}
					}
					_ = w.Write(cells)
				}
				w.Flush()
				if n != span[1]-span[0] || !bytes.Equal(got.Bytes(), want.Bytes()) {
					t.Errorf("columns %v, ids (%d, %d], escape %v: %d rows\n%q\nwant %d rows\n%q", cols, span[0], span[1], escape, n, got.Bytes(), span[1]-span[0], want.Bytes())
				}
			}
		}
	}
}

// TestSplitCells checks the split of a joined row: the id, then exactly one cell each.
func TestSplitCells(t *testing.T) {
	cells := make([]sql.RawBytes, 3)
	if id, ok := splitCells([]byte("42\x1fa\x1f\x1fc"), cells); !ok || string(id) != "42" ||
		string(cells[0]) != "a" || string(cells[1]) != "" || string(cells[2]) != "c" {
		t.Fatalf("got id %q, cells %q, ok %v", id, cells, ok)
	}
	for _, bad := range []string{"", "42", "42\x1fa\x1fb", "42\x1fa\x1fb\x1fc\x1fd", "42\x1fa\x1fb\x1fc\x1f"} {
		if _, ok := splitCells([]byte(bad), cells); ok {
			t.Errorf("%q: split, want no split", bad)
		}
	}
}
