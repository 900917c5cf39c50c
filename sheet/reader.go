// Package sheet reads the CSV files that upload kinds work on: a streaming reader that
// matches the header against a kind's fields (through an optional mapping), returns one
// record at a time, and reports the byte offset after each, so that a job can checkpoint and
// later resume in the middle of the file. Kinds validate the values; structural problems
// (a bad quote, a wrong field count, bytes that are not UTF-8) are reported here.
package sheet

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/reins-dev/reins"
)

// maxRecordBytes bounds the memory one record may take. A valid record is a few KB; a longer
// one is a wrong file (or an unclosed quote swallowing it), and the rest cannot be resynced.
const maxRecordBytes = 1 << 20

var errTooLong = errors.New("record too long")

var bom = []byte{0xEF, 0xBB, 0xBF}

// Reader reads the records of a CSV stream, one at a time.
//
// Next returns a *RowError for a bad row, and reading may continue with the next row. Any
// other error (the stream failed, or a record is too long to resynchronize) is final: Next
// returns it again on every later call.
type Reader struct {
	in      *guard
	br      *bufio.Reader
	csv     *csv.Reader
	format  *Format
	columns []string // the header, normalized
	fields  []int    // the field each column fills, -1 for none
	values  []string // the current record's values, by field
	names   []string // the column that fills each field, as a RowError names it

	start int64 // file offset where r begins: 0, or the resume offset
	skip  int64 // bytes consumed before csv's first byte (a BOM)
	line0 int   // lines before csv's first line

	offset int64 // file offset after the last record read
	line   int   // line on which the last record read ends
	err    error // final error
}

// readBuffer is how much of the input one read takes: bufio's default 4 KiB made an import
// of 100 MB spend a good part of its time in read system calls.
const readBuffer = 64 << 10

func newReader(r io.Reader, f *Format) *Reader {
	in := &guard{r: r}
	br := bufio.NewReaderSize(in, readBuffer)
	cr := csv.NewReader(br) // reuses br: no second buffer, so the BOM can be peeked
	cr.ReuseRecord = true
	return &Reader{in: in, br: br, csv: cr, format: f}
}

// NewReader starts reading a sheet of the given format: it reads and checks the header at
// once. A bad header (an empty file; missing, unknown or duplicate columns; a mapping that
// names columns the sheet lacks) is a *RowError.
func NewReader(r io.Reader, f *Format) (*Reader, error) {
	rd := newReader(r, f)
	if b, _ := rd.br.Peek(len(bom)); bytes.Equal(b, bom) {
		n, _ := rd.br.Discard(len(bom)) // cannot fail: the bytes are buffered
		rd.skip = int64(n)
	}
	header, err := rd.csv.Read()
	switch {
	case err != nil && rd.in.err != nil:
		return nil, rd.fail()
	case err == io.EOF:
		return nil, &RowError{Line: 1, Reason: "the file is empty"}
	case err != nil:
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			return nil, fmt.Errorf("sheet: reading the header: %w", err)
		}
		return nil, &RowError{Line: pe.StartLine, Reason: "the header is not valid CSV: " + rd.describe(pe)}
	}
	if len(header) > MaxColumns {
		return nil, &RowError{Line: 1, Reason: fmt.Sprintf("the header has %d columns; a sheet may have at most %d", len(header), MaxColumns)}
	}
	start, end := rd.span(header)
	if err := rd.setColumns(header); err != "" {
		return nil, &RowError{Line: start, Reason: err}
	}
	rd.advance(end)
	return rd, nil
}

// MaxColumns bounds a sheet's header; no kind needs more than a few.
const MaxColumns = 100

// setColumns matches the header against the format, or returns why it does not match.
func (r *Reader) setColumns(header []string) string {
	cols, fields, reason := r.format.resolve(header)
	if reason != "" {
		return reason
	}
	r.columns, r.fields = cols, fields
	r.values = make([]string, len(r.format.Fields))
	r.names = make([]string, len(r.format.Fields))
	for i, f := range r.format.Fields {
		r.names[i] = f.Name
	}
	for i, fi := range fields {
		if fi >= 0 {
			r.names[fi] = strings.TrimSpace(header[i])
		}
	}
	r.csv.FieldsPerRecord = len(cols)
	return ""
}

// NewResumeReader continues reading a file whose header was already read, from a checkpoint:
// r is positioned offset bytes into the file, at the Offset a Reader reported, and line and
// columns are that Reader's Line and Columns.
func NewResumeReader(r io.Reader, f *Format, columns []string, offset int64, line int) (*Reader, error) {
	if offset < 0 || line < 1 {
		return nil, reins.Errorf(reins.EINVALID, "sheet: cannot resume at offset %d, line %d", offset, line)
	}
	rd := newReader(r, f)
	if reason := rd.setColumns(columns); reason != "" {
		return nil, reins.Errorf(reins.EINVALID, "sheet: cannot resume with columns %q: %s", columns, reason)
	}
	rd.start, rd.offset = offset, offset
	rd.line0, rd.line = line, line
	return rd, nil
}

// Record is one row of a sheet: its values by field (trimmed; "" for a field no column
// fills), the line it starts on, and the column each field came from.
type Record struct {
	Line   int
	Values []string
	names  []string
}

// Column returns the name of the sheet's column that filled the field at index i.
func (rec *Record) Column(i int) string { return rec.names[i] }

// Error returns a *RowError for the record's field at index i.
func (rec *Record) Error(i int, reason string) *RowError {
	return &RowError{Line: rec.Line, Column: rec.names[i], Reason: reason}
}

// Next returns the next record, a *RowError for a bad row (the following call reads the next
// row), io.EOF after the last row, or a final error. The record's values are valid UTF-8
// without NUL bytes; the record is valid until the next call.
func (r *Reader) Next() (Record, error) {
	raw, start, err := r.read()
	if err != nil {
		return Record{}, err
	}
	clear(r.values)
	rec := Record{Line: start, Values: r.values, names: r.names}
	for i, fi := range r.fields {
		if fi < 0 {
			continue
		}
		v := raw[i]
		switch {
		case !utf8.ValidString(v):
			return Record{}, rec.Error(fi, "not valid UTF-8")
		case strings.IndexByte(v, 0) >= 0:
			return Record{}, rec.Error(fi, "contains a NUL byte")
		}
		r.values[fi] = strings.TrimSpace(v)
	}
	return rec, nil
}

// Skip reads past the next record without validating its fields: it returns nil for a
// record (good or bad), a *RowError for one that is malformed as CSV, io.EOF after the
// last, or a final error. Counting records with it costs a fraction of Next.
func (r *Reader) Skip() error {
	_, _, err := r.read()
	return err
}

// read reads the next record and the line it starts on.
func (r *Reader) read() ([]string, int, error) {
	if r.err != nil {
		return nil, 0, r.err
	}
	record, err := r.csv.Read()
	var pe *csv.ParseError
	switch {
	case err != nil && r.in.err != nil:
		return nil, 0, r.fail()
	case err == io.EOF:
		return nil, 0, io.EOF
	case err != nil && !errors.As(err, &pe):
		r.err = fmt.Errorf("sheet: reading after line %d: %w", r.line, err)
		return nil, 0, r.err
	case pe != nil && pe.Err != csv.ErrFieldCount:
		// encoding/csv dropped the rest of the line and resumes at the next one.
		r.advance(r.line0 + pe.Line)
		return nil, 0, &RowError{Line: r.line0 + pe.StartLine, Reason: r.describe(pe)}
	}
	start, end := r.span(record)
	r.advance(end)
	if pe != nil {
		return nil, 0, &RowError{Line: start, Reason: fmt.Sprintf(
			"has %d %s, but the header has %d", len(record), plural("field", len(record)), len(r.columns))}
	}
	return record, start, nil
}

// Offset returns the file offset just past the last record Next read (its line terminator
// included), where a resumed import starts reading.
func (r *Reader) Offset() int64 { return r.offset }

// Line returns the line on which the last record Next read ends (the header is line 1); it
// is where a resumed import continues counting lines.
func (r *Reader) Line() int { return r.line }

// Columns returns the header's columns in file order, normalized, for a checkpoint.
func (r *Reader) Columns() []string { return slices.Clone(r.columns) }

// span returns the lines on which the record just read starts and ends. Only a quoted field
// spans lines, and each of its line breaks is one "\n" in the value (csv turns "\r\n" into
// "\n"), so the last field's start line plus its newlines is the record's last line.
func (r *Reader) span(record []string) (start, end int) {
	start, _ = r.csv.FieldPos(0)
	last := len(record) - 1
	end, _ = r.csv.FieldPos(last)
	end += strings.Count(record[last], "\n")
	return r.line0 + start, r.line0 + end
}

// advance records that the stream has been read up to the end of a record ending on line.
func (r *Reader) advance(line int) {
	r.line = max(r.line, line)
	r.offset = r.start + r.skip + r.csv.InputOffset()
	r.in.mark = r.skip + r.csv.InputOffset()
}

// fail turns the stream's error into the Reader's final error.
func (r *Reader) fail() error {
	if errors.Is(r.in.err, errTooLong) {
		r.err = reins.Errorf(reins.EINVALID,
			"line %d: a record is longer than %d bytes (is a quote never closed?), so the rest of the file cannot be read",
			r.line+1, maxRecordBytes)
	} else {
		r.err = fmt.Errorf("sheet: reading after line %d: %w", r.line, r.in.err)
	}
	return r.err
}

// describe explains a structural CSV error in terms a person editing the file can act on.
func (r *Reader) describe(pe *csv.ParseError) string {
	at := fmt.Sprintf("byte %d of line %d", pe.Column, r.line0+pe.Line)
	switch pe.Err {
	case csv.ErrBareQuote:
		return `a quote (") at ` + at + ` is inside an unquoted field: quote the whole field and double the quotes inside it`
	case csv.ErrQuote:
		return `a quoted field is malformed near ` + at + `: a closing quote must be followed by a comma or the end of the line, quotes inside must be doubled (""), and the file must not end inside quotes`
	}
	return pe.Err.Error() + " at " + at
}

// guard sits between the input and csv's buffer: it bounds how far a record may run past
// its start, and keeps the input's first error, so every later read fails the same way
// instead of csv resynchronizing in the middle of a broken stream.
type guard struct {
	r    io.Reader
	n    int64 // bytes read from r
	mark int64 // value of n where the current record starts
	err  error
}

func (g *guard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.n-g.mark > maxRecordBytes {
		g.err = errTooLong
		return 0, g.err
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	if err != nil && err != io.EOF {
		g.err = err
	}
	return n, err
}
