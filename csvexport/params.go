// Package csvexport is the export job: customers created in a date range, written as CSV in
// batches to the blob store, resumable from a keyset checkpoint.
package csvexport

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/reins-dev/reins"
)

// dateLayout is the API's date format.
const dateLayout = "2006-01-02"

// Params are an export's creation parameters.
type Params struct {
	DateGTE     string `json:"date_gte"`
	DateLTE     string `json:"date_lte"`
	MaxRowsPerS int    `json:"max_rows_per_s,omitempty"`
}

// ParseParams validates the export endpoint's query parameters. Returns EINVALID naming the
// parameter at fault.
func ParseParams(dateGTE, dateLTE, maxRowsPerS string) (Params, error) {
	p := Params{DateGTE: strings.TrimSpace(dateGTE), DateLTE: strings.TrimSpace(dateLTE)}
	gte, err := parseDate("date_gte", p.DateGTE)
	if err != nil {
		return Params{}, err
	}
	lte, err := parseDate("date_lte", p.DateLTE)
	if err != nil {
		return Params{}, err
	}
	if gte.After(lte) {
		return Params{}, reins.Errorf(reins.EINVALID, "date_gte (%s) is after date_lte (%s)", p.DateGTE, p.DateLTE)
	}
	if p.MaxRowsPerS, err = reins.ParseMaxRowsPerS(maxRowsPerS); err != nil {
		return Params{}, err
	}
	return p, nil
}

func parseDate(name, value string) (time.Time, error) {
	if value == "" {
		return time.Time{}, reins.Errorf(reins.EINVALID, "'%s' not present in request: expected a date YYYY-MM-DD", name)
	}
	t, err := time.Parse(dateLayout, value)
	if err != nil {
		return time.Time{}, reins.Errorf(reins.EINVALID, "%s must be a real date YYYY-MM-DD, got %q", name, value)
	}
	return t, nil
}

// Range returns the half-open time range [from, to) the export covers: date_gte at 00:00 UTC
// to the day after date_lte at 00:00 UTC, so both end days are whole.
func (p Params) Range() (from, to time.Time) {
	from, _ = time.Parse(dateLayout, p.DateGTE)
	to, _ = time.Parse(dateLayout, p.DateLTE)
	to = to.AddDate(0, 0, 1)
	if to.Year() > 9999 {
		// Year 10000 has no four-digit form: SQLite, which compares times as text, would
		// sort it before every date. The last microsecond of 9999 is as good an end.
		to = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	}
	return from, to
}

// NewJob returns a CREATED export job for p.
func NewJob(p Params, owner string) (*reins.Job, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return &reins.Job{Type: reins.JobTypeExport, Status: reins.StatusCreated, Owner: owner, Params: raw}, nil
}
