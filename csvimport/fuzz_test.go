package csvimport

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/sheet"
)

// FuzzSheet reads any bytes as a customers sheet, through the reader and the validator and,
// alongside, the upload's record counter (sheet.Check). Nothing may panic; a row the
// validator takes is one the database can store; errors stay short; the counter agrees with
// the reader. The corpus is in testdata/fuzz/FuzzSheet; `make fuzz` runs it for a while.
func FuzzSheet(f *testing.F) {
	f.Add([]byte(header + good))
	f.Add([]byte(header + "\"=HYPERLINK(\"\"http://evil.example\"\")\",B,C,=x@example.com,3,X\n"))
	f.Add([]byte("\xef\xbb\xbf" + header + "A,B,C,a@b.co,200,X\r\n\"unclosed,B,C\n"))
	f.Add([]byte(header[:len(header)-1] + ",created_at\n" + strings.TrimSuffix(good, "\n") + ",0000-01-01\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		check := sheet.NewCheck(Format(nil))
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+len(rest)%7)
			if _, err := check.Write(rest[:n]); err != nil {
				break
			}
			rest = rest[n:]
		}
		counted, checkErr := check.Finish()

		r, err := sheet.NewReader(bytes.NewReader(data), Format(nil))
		if err != nil {
			shortError(t, err)
			if checkErr == nil {
				t.Fatalf("the reader refused the header (%v), the check did not", err)
			}
			return
		}
		var records int64
		lastOffset := r.Offset()
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				if checkErr == nil && counted != records {
					t.Fatalf("the check counted %d records, the reader read %d", counted, records)
				}
				return
			}
			var rowErr *sheet.RowError
			if err != nil && !errors.As(err, &rowErr) {
				shortError(t, err)
				return
			}
			records++
			if r.Offset() < lastOffset || r.Offset() > int64(len(data)) {
				t.Fatalf("offset went from %d to %d (input %d bytes)", lastOffset, r.Offset(), len(data))
			}
			lastOffset = r.Offset()
			if err != nil {
				shortError(t, err)
				continue
			}
			c, err := customer(&rec, now)
			if err != nil {
				shortError(t, err)
				continue
			}
			for _, v := range []string{c.FirstName, c.LastName, c.Address, c.Email, c.Company} {
				if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 || utf8.RuneCountInString(v) > maxAddress {
					t.Fatalf("the validator took a value the database cannot store: %q", v)
				}
			}
			if reins.IsFormula(c.Email) {
				t.Fatalf("the validator took a formula as an email: %q", c.Email)
			}
			if c.Age < 0 || c.Age > maxAge || c.CreatedAt.Year() < 1 || c.CreatedAt.Year() > 9999 {
				t.Fatalf("the validator took age %d, created_at %s", c.Age, c.CreatedAt)
			}
		}
	})
}

// shortError fails when an error would echo a huge input.
func shortError(t *testing.T, err error) {
	t.Helper()
	if msg := err.Error(); len(msg) > 2000 {
		t.Fatalf("an error of %d bytes: %.200s…", len(msg), msg)
	}
}
