package csvexport

import (
	"bytes"
	"encoding/csv"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/reins-dev/reins"
)

// TestFormulaScan checks formulaScan against encoding/csv and reins.IsFormula: random
// records, written with quoting as Postgres' COPY does it and fed in random pieces, are
// found to hold a formula cell exactly when one of their cells is one.
func TestFormulaScan(t *testing.T) {
	for c := 0; c < 256; c++ {
		if got, want := isFormulaByte(byte(c)), reins.IsFormula(string([]byte{byte(c)})); got != want {
			t.Fatalf("isFormulaByte(%q) = %v, reins.IsFormula says %v", rune(c), got, want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", "0", " ", ",", "\"", "\n", "\r", "\t", "=", "+", "-", "@", "é", "''"}
	found := 0
	for i := 0; i < 20000; i++ {
		var page bytes.Buffer
		want := false
		for r := 0; r < 1+rng.IntN(4); r++ {
			cells := make([]string, 1+rng.IntN(6))
			for k := range cells {
				var sb strings.Builder
				for range rng.IntN(5) {
					sb.WriteString(alphabet[rng.IntN(len(alphabet))])
				}
				cells[k] = sb.String()
				want = want || reins.IsFormula(cells[k])
			}
			page.WriteString(copyRecord(cells))
		}
		r := csv.NewReader(bytes.NewReader(page.Bytes()))
		r.FieldsPerRecord = -1
		if records, err := r.ReadAll(); err != nil || len(records) == 0 {
			t.Fatalf("the test wrote bad CSV %q: %v", page.String(), err)
		}
		var out bytes.Buffer
		s := &formulaScan{w: &out}
		for rest := page.Bytes(); len(rest) > 0; {
			n := 1 + rng.IntN(len(rest))
			if _, err := s.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if s.found != want {
			t.Fatalf("formulaScan found %v in %q, want %v", s.found, page.String(), want)
		}
		if !bytes.Equal(out.Bytes(), page.Bytes()) {
			t.Fatalf("formulaScan passed on %q, want %q", out.String(), page.String())
		}
		if want {
			found++
		}
	}
	if found == 0 || found == 20000 {
		t.Fatalf("%d of the pages held a formula: the test proves nothing", found)
	}
}

// copyRecord writes a record as Postgres' COPY (FORMAT csv) does: a cell holding a quote,
// comma, CR or LF, or empty (COPY tells an empty string from NULL so), is quoted, quotes
// doubled.
func copyRecord(cells []string) string {
	out := make([]string, len(cells))
	for i, c := range cells {
		if c == "" || strings.ContainsAny(c, "\",\r\n") {
			c = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
		}
		out[i] = c
	}
	return strings.Join(out, ",") + "\n"
}

var _ io.Writer = (*formulaScan)(nil)

// BenchmarkFormulaScan scans an export page of demo-like rows (none a formula), as the
// Postgres export does for every page it has COPY write raw.
func BenchmarkFormulaScan(b *testing.B) {
	var page bytes.Buffer
	for i := range 20000 {
		page.WriteString(copyRecord([]string{"Ada", "Lovelace", "12 Analytical Engine Row, London",
			"ada." + strings.Repeat("x", i%7) + "@example.com", "36", "Babbage & Co"}))
	}
	b.SetBytes(int64(page.Len()))
	for b.Loop() {
		s := &formulaScan{w: io.Discard}
		if _, _ = s.Write(page.Bytes()); s.found {
			b.Fatal("found a formula in a page of none")
		}
	}
}
