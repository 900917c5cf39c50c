package csvimport

import (
	"io"
	"time"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/sheet"
)

// RowError is a bad row of a customers sheet.
type RowError = sheet.RowError

// Reader reads customers from a CSV stream, one validated row at a time.
//
// Next returns a *RowError for a bad row, and reading may continue with the next row. Any
// other error (the stream failed, or a record is too long to resynchronize) is final.
type Reader struct {
	*sheet.Reader
	now time.Time
}

// NewReader starts reading a customers CSV whose header names the fields itself: it reads
// and checks the header at once. now is the created_at of every row when the file has no
// created_at column (or an empty value). A bad header is a *RowError.
func NewReader(r io.Reader, now time.Time) (*Reader, error) {
	return NewMappedReader(r, nil, now)
}

// NewMappedReader is NewReader for a sheet whose header names map to the fields.
func NewMappedReader(r io.Reader, mapping map[string]string, now time.Time) (*Reader, error) {
	sr, err := sheet.NewReader(r, Format(mapping))
	if err != nil {
		return nil, err
	}
	return &Reader{Reader: sr, now: now.UTC()}, nil
}

// NewResumeReader continues reading a file whose header was already read, from a checkpoint:
// r is positioned offset bytes into the file, at the Offset a Reader reported, and line and
// columns are that Reader's Line and Columns.
func NewResumeReader(r io.Reader, columns []string, offset int64, line int, now time.Time) (*Reader, error) {
	sr, err := sheet.NewResumeReader(r, Format(nil), columns, offset, line)
	if err != nil {
		return nil, err
	}
	return &Reader{Reader: sr, now: now.UTC()}, nil
}

// Next returns the next customer, a *RowError for a bad row (the following call reads the
// next row), io.EOF after the last row, or a final error.
func (r *Reader) Next() (reins.Customer, error) {
	rec, err := r.Reader.Next()
	if err != nil {
		return reins.Customer{}, err
	}
	return customer(&rec, r.now)
}
