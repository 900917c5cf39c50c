package csvimport

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/reins-dev/reins"
)

var now = time.Date(2024, 3, 1, 12, 30, 0, 0, time.UTC)

const (
	header = "first_name,last_name,address,email,age,company\n"
	good   = "Ada,Lovelace,12 St James's Square,ada@example.com,36,Analytical Engines\n"
)

// outcomes reads r to the end and renders each row as "ok <first_name>" or its RowError.
func outcomes(t *testing.T, r *Reader) []string {
	t.Helper()
	var out []string
	for range 1000 {
		c, err := r.Next()
		var re *RowError
		switch {
		case err == io.EOF:
			return out
		case err == nil:
			out = append(out, "ok "+c.FirstName)
		case errors.As(err, &re):
			out = append(out, re.Error())
		default:
			t.Fatalf("final error after %q: %v", out, err)
		}
	}
	t.Fatal("Next never returned io.EOF")
	return nil
}

func customerEqual(a, b reins.Customer) bool {
	return a.CreatedAt.Equal(b.CreatedAt) && a.CreatedAt.Location() == time.UTC &&
		a.FirstName == b.FirstName && a.LastName == b.LastName && a.Address == b.Address &&
		a.Email == b.Email && a.Age == b.Age && a.Company == b.Company
}

func TestReaderGoodFiles(t *testing.T) {
	t.Parallel()
	ada := reins.Customer{FirstName: "Ada", LastName: "Lovelace", Address: "12 St James's Square",
		Email: "ada@example.com", Age: 36, Company: "Analytical Engines", CreatedAt: now}
	bob := reins.Customer{FirstName: "Bob", LastName: "Smith", Address: "1 Main St", Email: "bob@x.org",
		Age: 0, Company: "Acme", CreatedAt: now}
	at := func(c reins.Customer, ts time.Time) reins.Customer { c.CreatedAt = ts; return c }
	tests := []struct {
		name  string
		input string
		want  []reins.Customer
	}{
		{"plain", header + good + "Bob,Smith,1 Main St,bob@x.org,0,Acme\n", []reins.Customer{ada, bob}},
		{"no final newline", header + strings.TrimSuffix(good, "\n"), []reins.Customer{ada}},
		{"blank lines", header + "\n" + good + "\n\n", []reins.Customer{ada}},
		{"BOM", "\uFEFF" + header + good, []reins.Customer{ada}},
		{"CRLF", strings.ReplaceAll(header+good+"Bob,Smith,1 Main St,bob@x.org,0,Acme\n", "\n", "\r\n"),
			[]reins.Customer{ada, bob}},
		{"shuffled, upper-case, padded header",
			" EMAIL ,Age,company,First_Name,last_name,address\nada@example.com,36,Analytical Engines,Ada,Lovelace,12 St James's Square\n",
			[]reins.Customer{ada}},
		{"values trimmed", header + "  Ada , Lovelace,12 St James's Square\t, ada@example.com , 36 ,Analytical Engines \n",
			[]reins.Customer{ada}},
		{"quoted commas, newlines and quotes",
			header + `"Ada","Love, lace","12 St James's
Square",ada@example.com,"36","The ""Analytical"" Engines"` + "\n",
			[]reins.Customer{{FirstName: "Ada", LastName: "Love, lace", Address: "12 St James's\nSquare",
				Email: "ada@example.com", Age: 36, Company: `The "Analytical" Engines`, CreatedAt: now}}},
		{"longest values", header + strings.Repeat("é", 100) + ",L,A,a@b.c,150,C\n",
			[]reins.Customer{{FirstName: strings.Repeat("é", 100), LastName: "L", Address: "A", Email: "a@b.c",
				Age: 150, Company: "C", CreatedAt: now}}},
		{"created_at",
			strings.TrimSuffix(header, "\n") + ",created_at\n" +
				strings.TrimSuffix(good, "\n") + ",2020-05-01T10:00:00Z\n" +
				strings.TrimSuffix(good, "\n") + ",2020-05-01T12:00:00+02:00\n" +
				strings.TrimSuffix(good, "\n") + ",2019-01-02\n" +
				strings.TrimSuffix(good, "\n") + ", \n",
			[]reins.Customer{
				at(ada, time.Date(2020, 5, 1, 10, 0, 0, 0, time.UTC)),
				at(ada, time.Date(2020, 5, 1, 10, 0, 0, 0, time.UTC)),
				at(ada, time.Date(2019, 1, 2, 0, 0, 0, 0, time.UTC)),
				ada,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewReader(strings.NewReader(tt.input), now.In(time.FixedZone("X", 3600)))
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			for i, want := range tt.want {
				got, err := r.Next()
				if err != nil {
					t.Fatalf("row %d: %v", i, err)
				}
				if !customerEqual(got, want) {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, got, want)
				}
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("after the last row: got %v, want io.EOF", err)
			}
			if got := r.Offset(); got != int64(len(tt.input)) && !strings.HasSuffix(tt.input, "\n\n") {
				t.Errorf("Offset() = %d, want %d", got, len(tt.input))
			}
		})
	}
}

func TestReaderBadRows(t *testing.T) {
	t.Parallel()
	withDate := strings.TrimSuffix(header, "\n") + ",created_at\n"
	dated := func(date string) string { return strings.TrimSuffix(good, "\n") + "," + date + "\n" }
	row := func(old, new string) string { return strings.Replace(good, old, new, 1) }
	tests := []struct {
		name   string
		header string // header when not the default
		rows   string // followed by a good row
		want   []string
	}{
		{"too few fields", "", "Ada,Lovelace\n", []string{"line 2: has 2 fields, but the header has 6"}},
		{"too many fields", "", row("36", "36,x"), []string{"line 2: has 7 fields, but the header has 6"}},
		{"bare quote", "", row("Lovelace", `Love"lace`), []string{`line 2: a quote (") at byte 9 of line 2 is inside an unquoted field`}},
		{"text after closing quote", "", row("Ada", `"Ada"x`), []string{"line 2: a quoted field is malformed near byte 5 of line 2"}},
		{"unterminated quote swallows the rest", "", row("Lovelace", `"Lovelace`), nil}, // want set below
		{"age -1", "", row("36", "-1"), []string{`line 2, column age: must be a whole number from 0 to 150, got "-1"`}},
		{"age 151", "", row("36", "151"), []string{`line 2, column age: must be a whole number from 0 to 150, got "151"`}},
		{"age abc", "", row("36", "abc"), []string{`line 2, column age: must be a whole number from 0 to 150, got "abc"`}},
		{"age 1.5", "", row("36", "1.5"), []string{`line 2, column age: must be a whole number from 0 to 150, got "1.5"`}},
		{"age +5", "", row("36", "+5"), []string{`line 2, column age: must be a whole number`}},
		{"age empty", "", row("36", ""), []string{`line 2, column age: must be a whole number from 0 to 150, got ""`}},
		{"age huge", "", row("36", "99999999999999999999999"), []string{`line 2, column age: must be a whole number`}},
		{"long bad value is shortened", "", row("36", strings.Repeat("é", 41)), []string{`line 2, column age: must be a whole number from 0 to 150, got "` + strings.Repeat("é", 40) + `"…`}},
		{"email without @", "", row("ada@example.com", "ada.example.com"), []string{`line 2, column email: must be an email address like name@example.com, got "ada.example.com"`}},
		{"email with two @", "", row("ada@example.com", "ada@x@example.com"), []string{"line 2, column email: must be an email"}},
		{"email without dot in domain", "", row("ada@example.com", "ada@example"), []string{"line 2, column email: must be an email"}},
		{"email with a space", "", row("ada@example.com", "ada lovelace@example.com"), []string{"line 2, column email: must be an email"}},
		{"email without local part", "", row("ada@example.com", "@example.com"), []string{"line 2, column email: must be an email"}},
		{"email too long", "", row("ada@example.com", strings.Repeat("a", 243)+"@example.com"), []string{"line 2, column email: must be at most 254 characters, got 255"}},
		{"first_name too long", "", row("Ada", strings.Repeat("A", 101)), []string{"line 2, column first_name: must be at most 100 characters, got 101"}},
		{"first_name blank", "", row("Ada", "  "), []string{"line 2, column first_name: must not be empty"}},
		{"last_name empty", "", row("Lovelace", ""), []string{"line 2, column last_name: must not be empty"}},
		{"company too long", "", row("Analytical Engines", strings.Repeat("C", 101)), []string{"line 2, column company: must be at most 100 characters"}},
		{"address empty", "", row("12 St James's Square", ""), []string{"line 2, column address: must not be empty"}},
		{"address too long", "", row("12 St James's Square", strings.Repeat("a", 256)), []string{"line 2, column address: must be at most 255 characters, got 256"}},
		{"not UTF-8", "", row("Ada", "Ad\xffa"), []string{"line 2, column first_name: not valid UTF-8"}},
		{"NUL byte", "", row("Lovelace", "Love\x00lace"), []string{"line 2, column last_name: contains a NUL byte"}},
		{"first bad column wins", "", strings.Replace(row("Ada", ""), "36", "x", 1), []string{"line 2, column first_name:"}},
		{"date 2021-02-30", withDate, dated("2021-02-30"), []string{`line 2, column created_at: must be a date YYYY-MM-DD or a time like 2020-05-01T10:00:00Z, got "2021-02-30"`}},
		{"date 2021-13-01", withDate, dated("2021-13-01"), []string{"line 2, column created_at: must be a date"}},
		{"date garbage", withDate, dated("yesterday"), []string{"line 2, column created_at: must be a date"}},
		{"time out of range", withDate, dated("2021-02-28T25:00:00Z"), []string{"line 2, column created_at: must be a date"}},
		{"several bad rows", "", row("36", "x") + good + row("Ada", "") + "a,b\n",
			[]string{"line 2, column age:", "ok Ada", "line 4, column first_name:", "line 5: has 2 fields"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.header
			if h == "" {
				h = header
			}
			next := good
			if h != header {
				next = dated("2020-01-01")
			}
			want := append(tt.want, "ok Ada")
			if tt.want == nil {
				want = []string{"line 2: a quoted field is malformed near byte 73 of line 3"}
			}
			r, err := NewReader(strings.NewReader(h+tt.rows+next), now)
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			got := outcomes(t, r)
			if len(got) != len(want) {
				t.Fatalf("got %q, want %q", got, want)
			}
			for i := range want {
				if !strings.HasPrefix(got[i], want[i]) {
					t.Errorf("row %d: got %q, want prefix %q", i, got[i], want[i])
				}
			}
		})
	}
}

func TestReaderLinesAcrossQuotedNewlines(t *testing.T) {
	t.Parallel()
	input := header +
		"\"Ada\nAugusta\",Lovelace,\"12 St James's\r\nSquare\",ada@example.com,36,Engines\n" + // lines 2-4
		"Bob,Smith,\"1\n2\n3\",bob@example.com,x,Acme\n" + // lines 5-7, bad age
		"\n" + // line 8
		"Cy,\"Q\n\",addr,cy@example.com,1,\"Co\n\"\n" + // lines 9-11, good
		"Di,\"a\nb\",c\n" // lines 12-13, wrong field count
	r, err := NewReader(strings.NewReader(input), now)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		want string
		line int
	}{
		{"ok Ada\nAugusta", 4},
		{"line 5, column age: must be a whole number from 0 to 150, got \"x\"", 7},
		{"ok Cy", 11},
		{"line 12: has 3 fields, but the header has 6", 13},
	}
	for _, s := range steps {
		c, err := r.Next()
		got := "ok " + c.FirstName
		if err != nil {
			got = err.Error()
		}
		if got != s.want || r.Line() != s.line {
			t.Errorf("got %q ending on line %d, want %q ending on line %d", got, r.Line(), s.want, s.line)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("got %v, want io.EOF", err)
	}
}

func TestNewReaderHeader(t *testing.T) {
	t.Parallel()
	const rule = " (the header must have first_name, last_name, address, email, age, company and optionally created_at; a mapping can rename or ignore columns)"
	tests := []struct {
		name  string
		input string
		want  string // "" for a good header
	}{
		{"empty", "", "line 1: the file is empty"},
		{"blank lines only", "\n\r\n\n", "line 1: the file is empty"},
		{"BOM only", "\uFEFF", "line 1: the file is empty"},
		{"missing columns", "first_name,last_name,address,company\n", "line 1: missing columns: email, age" + rule},
		{"missing one column", "first_name,last_name,address,email,age\n", "line 1: missing column: company" + rule},
		{"unknown column", "first_name,last_name,address,email,age,company,mail\n", `line 1: unknown column: "mail"` + rule},
		{"duplicate column", "first_name,last_name,address,email,age,company,AGE\n", `line 1: duplicate column: "age"` + rule},
		{"all at once", "first_name,first_name,address,e-mail,age,,company\n",
			`line 1: missing columns: last_name, email; unknown columns: "e-mail", ""; duplicate column: "first_name"` + rule},
		{"long unknown column", "first_name,last_name,address,email,age,company," + strings.Repeat("x", 3000) + "\n",
			`line 1: unknown column: "` + strings.Repeat("x", 40) + `"…` + rule},
		{"many unknown columns of control characters", "first_name,last_name,address,email,age,company,a" + strings.Repeat(strings.Repeat("\x0f", 50)+",b", 11) + "\n",
			`line 1: unknown columns: "a` + strings.Repeat(`\x0f`, 29) + `"…, "b` + strings.Repeat(`\x0f`, 29) + `"…`},
		{"not UTF-8", "first_name,last_name,address,email,age,company\xff\n", "line 1: the header is not valid UTF-8"},
		{"bare quote", "first_name,last\"name\n", `line 1: the header is not valid CSV: a quote (") at byte 16 of line 1`},
		{"header only", header, ""},
		{"header only, no newline", strings.TrimSuffix(header, "\n"), ""},
		{"header only, with created_at", "created_at," + header, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewReader(strings.NewReader(tt.input), now)
			if tt.want != "" {
				var re *RowError
				if !errors.As(err, &re) || !strings.HasPrefix(re.Error(), tt.want) || re.Column != "" {
					t.Fatalf("got %v, want a RowError %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			for range 2 {
				if _, err := r.Next(); err != io.EOF {
					t.Fatalf("got %v, want io.EOF at once", err)
				}
			}
		})
	}
}
