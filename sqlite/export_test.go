package sqlite

import (
	"bytes"
	"encoding/csv"
	"testing"
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
