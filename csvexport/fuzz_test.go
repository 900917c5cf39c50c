package csvexport

import (
	"testing"

	"github.com/reins-dev/reins"
)

// FuzzParseParams checks an export's parameters: whatever a client sends is taken or
// refused with EINVALID, and what is taken is a range the stores can query (years 0001 to
// 9999, from before to).
func FuzzParseParams(f *testing.F) {
	f.Add("2020-01-01", "2020-12-31", "", "", "")
	f.Add("0000-01-01", "2020-01-01", "10", "email,age", "false")
	f.Add("9999-12-31", "9999-12-31", "-1", "created_at", "maybe")
	f.Add("2020-02-30", "10000-01-01", "1e9", "email,email", "")
	f.Fuzz(func(t *testing.T, gte, lte, rate, columns, escape string) {
		p, err := ParseParams(reins.Params{"date_gte": gte, "date_lte": lte, "max_rows_per_s": rate,
			"columns": columns, "escape_formulas": escape})
		if err != nil {
			if reins.ErrorCode(err) != reins.EINVALID {
				t.Fatalf("got %v, want EINVALID", err)
			}
			if len(reins.ErrorMessage(err)) > 1000 {
				t.Fatalf("a %d-byte error", len(reins.ErrorMessage(err)))
			}
			return
		}
		from, to := p.Range()
		if from.Year() < 1 || to.Year() > 9999 || !from.Before(to) {
			t.Fatalf("date_gte=%q date_lte=%q gave the range %s to %s", gte, lte, from, to)
		}
		_ = p.Describe()
		_ = p.Header()
	})
}
