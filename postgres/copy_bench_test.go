package postgres

import (
	"io"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/reins-dev/reins"
)

// BenchmarkEncodeCustomers measures encoding customers into the binary COPY stream, per
// row: straight from their fields (LoadCustomers) and value by value (BulkInsert).
func BenchmarkEncodeCustomers(b *testing.B) {
	rows := make([]reins.Customer, 10000)
	for i := range rows {
		rows[i] = reins.Customer{FirstName: "Ada", LastName: "Lovelace", Address: "12 St James's Square, London",
			Email: "import.123456@bench.example.com", Age: 36, Company: "Analytical Engines",
			CreatedAt: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	}
	job := uuid.New()
	b.Run("LoadCustomers", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			src := &copyRows{n: len(rows), encode: func(buf []byte, i int) ([]byte, error) {
				return encodeCustomer(buf, &rows[i], &job, false, false)
			}}
			if _, err := io.Copy(io.Discard, src); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
	})
	b.Run("BulkInsert", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			src := &copyRows{types: pgtype.NewMap(), oids: customerTypes, n: len(rows), dst: make([]any, 8),
				row: func(i int, dst []any) {
					c := &rows[i]
					dst[0], dst[1], dst[2], dst[3], dst[4], dst[5], dst[6], dst[7] =
						c.FirstName, c.LastName, c.Address, c.Email, c.Age, c.Company, c.CreatedAt, job
				}}
			src.encode = src.encodeRow
			if _, err := io.Copy(io.Discard, src); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
	})
}
