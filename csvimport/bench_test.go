package csvimport

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/reins-dev/reins/sheet"
)

// benchSheet is n rows shaped like cmd/reins-bench's import file (docs/benchmarks.md).
func benchSheet(n int) []byte {
	var b bytes.Buffer
	b.WriteString("first_name,last_name,address,email,age,company,created_at\n")
	for i := range n {
		fmt.Fprintf(&b, "Ada,Lovelace,\"%d St James's Square, London\",import.%d@bench.example.com,%d,Analytical Engines,2020-01-01T00:00:00Z\n",
			i%9999+1, i, 18+i%70)
	}
	return b.Bytes()
}

// BenchmarkReader measures reading and validating customers, per row: the import's own CPU
// besides the insert (docs/benchmarks.md "Import: where the time went").
func BenchmarkReader(b *testing.B) {
	const rows = 10000
	data := benchSheet(rows)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data), now)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}

// BenchmarkCheck measures the transfer's record count of the same file.
func BenchmarkCheck(b *testing.B) {
	const rows = 10000
	data := benchSheet(rows)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		c := sheet.NewCheck(Format(nil))
		for p := data; len(p) > 0; {
			n := min(len(p), 256<<10)
			if _, err := c.Write(p[:n]); err != nil {
				b.Fatal(err)
			}
			p = p[n:]
		}
		if n, err := c.Finish(); err != nil || n != rows {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
