package csvimport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/reins-dev/reins"
)

// step is what one call of Next produced, and where the Reader stood after it.
type step struct {
	outcome string
	offset  int64
	line    int
}

var errNoEnd = errors.New("Next never returned io.EOF")

// readSteps calls Next until io.EOF (returning a nil error) or a final error, at most
// limit times.
func readSteps(r *Reader, limit int) ([]step, error) {
	var steps []step
	for range limit {
		c, err := r.Next()
		var re *RowError
		switch {
		case err == io.EOF:
			return steps, nil
		case err == nil:
			steps = append(steps, step{fmt.Sprintf("ok %+v", c), r.Offset(), r.Line()})
		case errors.As(err, &re):
			steps = append(steps, step{"error " + re.Error(), r.Offset(), r.Line()})
		default:
			return steps, err
		}
	}
	return steps, errNoEnd
}

// checkResume resumes data from every checkpoint in steps (and from just after the header)
// and checks that the rest of the file reads the same.
func checkResume(t *testing.T, data []byte, r *Reader, headerEnd step, steps []step) {
	t.Helper()
	for k, at := range append([]step{headerEnd}, steps...) {
		rr, err := NewResumeReader(bytes.NewReader(data[at.offset:]), r.Columns(), at.offset, at.line, now)
		if err != nil {
			t.Fatalf("NewResumeReader at %d: %v", at.offset, err)
		}
		rest, err := readSteps(rr, len(data)+1)
		if err != nil {
			t.Fatalf("resumed at %d: %v", at.offset, err)
		}
		if want := steps[k:]; !slices.Equal(rest, want) {
			t.Fatalf("resumed at offset %d, line %d:\n got %+v\nwant %+v", at.offset, at.line, rest, want)
		}
	}
}

func TestOffsetAndLine(t *testing.T) {
	t.Parallel()
	rows := []string{
		strings.ReplaceAll(good, "\n", "\r\n"),
		"Bob,Smith,addr,bob@example.com,x,Acme\r\n",
		"\r\n\"Cy\r\n\",Q,addr,cy@example.com,1,Co\r\n",
		"Di,Q,addr,di@example.com,1,Co", // no final line break
	}
	prefix := "\uFEFF" + strings.ReplaceAll(header, "\n", "\r\n")
	r, err := NewReader(strings.NewReader(prefix+strings.Join(rows, "")), now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Offset() != int64(len(prefix)) || r.Line() != 1 {
		t.Fatalf("after the header: offset %d, line %d; want %d, 1", r.Offset(), r.Line(), len(prefix))
	}
	want := int64(len(prefix))
	for i, wantLine := range []int{2, 3, 6, 7} {
		_, err := r.Next()
		var re *RowError
		if err != nil && !errors.As(err, &re) {
			t.Fatal(err)
		}
		want += int64(len(rows[i]))
		if r.Offset() != want || r.Line() != wantLine {
			t.Errorf("row %d: offset %d, line %d; want %d, %d", i, r.Offset(), r.Line(), want, wantLine)
		}
	}
}

func TestResume(t *testing.T) {
	t.Parallel()
	dated := "created_at," + header + "2020-05-01," + good + "," + good + "bad-date," + good +
		"2021-01-01T10:00:00Z,Bob,Smith,addr,bob@example.com,7,Acme"
	tests := map[string]string{
		"mixed": "\uFEFF" + strings.ReplaceAll(header+good+"Bob,Smith,addr,bob@example.com,x,Acme\n", "\n", "\r\n") +
			"\n\n\"Cy\nCy\",\"Q\",\"a\"\"d\ndr\",cy@example.com,1,\"Co\n\"\n" +
			"Di,\"a\nb\",c\n" + `Ed,Lo"ve,addr,ed@example.com,2,Co` + "\n" + `"Fa"x,L,a,fa@example.com,3,C` + "\n" + good,
		"shuffled columns": "age,email,address,company,last_name,first_name\n36,ada@example.com,addr,Co,Lovelace,Ada\n" +
			"37,bob@example.com,addr,Co,Smith,Bob\n200,x,a,C,L,F\n",
		"created_at, no final newline":  dated,
		"unterminated quote at the end": header + good + good + `Ada,"Love` + "\n" + good,
	}
	for name, input := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data := []byte(input)
			r, err := NewReader(bytes.NewReader(data), now)
			if err != nil {
				t.Fatal(err)
			}
			headerEnd := step{offset: r.Offset(), line: r.Line()}
			steps, err := readSteps(r, len(data)+1)
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) < 3 {
				t.Fatalf("want at least 3 rows, got %+v", steps)
			}
			checkResume(t, data, r, headerEnd, steps)
		})
	}
}

func TestFinalErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	huge := strings.Repeat("x", 2<<20)
	tests := []struct {
		name  string
		input io.Reader
		want  string // the final error after one good row
		is    error
	}{
		{"long line", strings.NewReader(header + good + "Bob," + huge + "\n" + good),
			"reins error: code=invalid message=line 3: a record is longer than 1048576 bytes", nil},
		{"quote never closed", strings.NewReader(header + good + `"` + strings.Repeat("a,b\n", 1<<19)),
			"reins error: code=invalid message=line 3: a record is longer than 1048576 bytes", nil},
		{"read error", io.MultiReader(strings.NewReader(header+good+"Bob,Sm"), iotest.ErrReader(boom)),
			"sheet: reading after line 2: boom", boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewReader(tt.input, now)
			if err != nil {
				t.Fatal(err)
			}
			if c, err := r.Next(); err != nil || c.FirstName != "Ada" {
				t.Fatalf("first row: %+v, %v", c, err)
			}
			for range 3 { // the error is final: every later call returns it
				_, err := r.Next()
				var re *RowError
				if err == nil || errors.As(err, &re) || !strings.HasPrefix(err.Error(), tt.want) {
					t.Fatalf("got %v, want a final error %q", err, tt.want)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Fatalf("got %v, want it to wrap %v", err, tt.is)
				}
			}
		})
	}
	t.Run("header", func(t *testing.T) {
		t.Parallel()
		if _, err := NewReader(iotest.ErrReader(boom), now); !errors.Is(err, boom) {
			t.Fatalf("got %v, want %v", err, boom)
		}
	})
}

func TestNewResumeReaderArguments(t *testing.T) {
	t.Parallel()
	required := reins.CustomerColumns
	tests := []struct {
		name    string
		columns []string
		offset  int64
		line    int
	}{
		{"negative offset", required, -1, 1},
		{"line 0", required, 10, 0},
		{"missing column", required[1:], 10, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewResumeReader(strings.NewReader(good), tt.columns, tt.offset, tt.line, now)
			if reins.ErrorCode(err) != reins.EINVALID {
				t.Fatalf("got %v, want an %s error", err, reins.EINVALID)
			}
		})
	}
}

// FuzzReader checks that no input makes the Reader panic or loop, that offsets and lines
// only move forward, and that resuming from any checkpoint reads the rest the same way.
func FuzzReader(f *testing.F) {
	f.Add([]byte(header + good))
	f.Add([]byte("\uFEFFcreated_at," + strings.ReplaceAll(header+"2021-02-30,"+good, "\n", "\r\n")))
	f.Add([]byte(header + "\"a\n\"\"b\",c\n" + `x,"y"z,"` + "\n\xff\x00,,,,,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), now)
		if err != nil {
			var re *RowError
			if !errors.As(err, &re) {
				t.Fatalf("NewReader: %v is not a RowError", err)
			}
			return
		}
		headerEnd := step{offset: r.Offset(), line: r.Line()}
		steps, err := readSteps(r, len(data)+1)
		if err != nil {
			t.Fatal(err)
		}
		prev := headerEnd
		for _, s := range steps {
			if s.offset <= prev.offset || s.offset > int64(len(data)) || s.line <= prev.line {
				t.Fatalf("went from offset %d, line %d to offset %d, line %d (input %d bytes)",
					prev.offset, prev.line, s.offset, s.line, len(data))
			}
			prev = s
		}
		checkResume(t, data, r, headerEnd, steps)
	})
}
