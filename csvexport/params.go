// Package csvexport is the customers export: a job kind whose jobs write the customers
// created in a date range as CSV, in batches, to the blob store. An export is a snapshot as
// of its creation; it walks the rows by id, resumable from its checkpoint, and may be held
// before it starts by its guard (confirm_over).
package csvexport

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/sheet"
)

// Type is the export's job type.
const Type reins.JobType = "export"

// dateLayout is the API's date format.
const dateLayout = "2006-01-02"

// Params are an export's creation parameters.
type Params struct {
	DateGTE     string `json:"date_gte"`
	DateLTE     string `json:"date_lte"`
	MaxRowsPerS int    `json:"max_rows_per_s,omitempty"`
	// Columns are the CSV's columns; nil means reins.CustomerColumns, the old service's.
	Columns []string `json:"columns,omitempty"`
	// RawCells turns off the prefix that keeps spreadsheets from running cells as formulas,
	// for machine consumers.
	RawCells bool `json:"raw_cells,omitempty"`
	// ConfirmOver holds the export for CONFIRM when its estimate is above it: a number of
	// rows, or "auto" (ten times the median of the tenant's recent exports).
	ConfirmOver string `json:"confirm_over,omitempty"`
}

// paramNames are the parameters an export understands.
var paramNames = []string{"date_gte", "date_lte", "max_rows_per_s", "columns", "include", "escape_formulas", "confirm_over"}

// ParseParams validates an export's parameters. Returns EINVALID naming the parameter at
// fault.
func ParseParams(p reins.Params) (Params, error) {
	out := Params{DateGTE: strings.TrimSpace(p["date_gte"]), DateLTE: strings.TrimSpace(p["date_lte"])}
	gte, err := parseDate("date_gte", out.DateGTE)
	if err != nil {
		return Params{}, err
	}
	lte, err := parseDate("date_lte", out.DateLTE)
	if err != nil {
		return Params{}, err
	}
	if gte.After(lte) {
		return Params{}, reins.Errorf(reins.EINVALID, "date_gte (%s) is after date_lte (%s)", out.DateGTE, out.DateLTE)
	}
	if out.MaxRowsPerS, err = reins.ParseMaxRowsPerS(p["max_rows_per_s"]); err != nil {
		return Params{}, err
	}
	if out.Columns, err = parseColumns(p["columns"], p["include"]); err != nil {
		return Params{}, err
	}
	switch v := strings.ToLower(strings.TrimSpace(p["escape_formulas"])); v {
	case "", "true", "1", "yes":
	case "false", "0", "no":
		out.RawCells = true
	default:
		return Params{}, reins.Errorf(reins.EINVALID, "escape_formulas must be true or false, got %s", sheet.Quote(v))
	}
	if out.ConfirmOver, err = parseConfirmOver(p["confirm_over"]); err != nil {
		return Params{}, err
	}
	return out, nil
}

func parseDate(name, value string) (time.Time, error) {
	if value == "" {
		return time.Time{}, reins.Errorf(reins.EINVALID, "'%s' not present in request: expected a date YYYY-MM-DD", name)
	}
	t, err := time.Parse(dateLayout, value)
	if err != nil || t.Year() < 1 {
		return time.Time{}, reins.Errorf(reins.EINVALID, "%s must be a real date YYYY-MM-DD from 0001-01-01 to 9999-12-31, got %s", name, sheet.Quote(value))
	}
	return t, nil
}

// parseColumns reads columns= (a comma-separated choice and order of the columns) and
// include=created_at (the six columns and created_at, for an export meant to be imported
// back). Neither gives nil: the old service's six columns.
func parseColumns(columns, include string) ([]string, error) {
	columns, include = strings.TrimSpace(columns), strings.TrimSpace(include)
	if columns != "" && include != "" {
		return nil, reins.Errorf(reins.EINVALID, "give columns or include, not both")
	}
	switch include {
	case "":
	case "created_at":
		return slices.Clone(reins.CustomerColumnsWithCreatedAt), nil
	default:
		return nil, reins.Errorf(reins.EINVALID, "include may only be created_at, got %s", sheet.Quote(include))
	}
	if columns == "" {
		return nil, nil
	}
	var out []string
	for _, c := range strings.Split(columns, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		switch {
		case !slices.Contains(reins.CustomerColumnsWithCreatedAt, c):
			return nil, reins.Errorf(reins.EINVALID, "columns: unknown column %s (columns are %s)", sheet.Quote(c), strings.Join(reins.CustomerColumnsWithCreatedAt, ", "))
		case slices.Contains(out, c):
			return nil, reins.Errorf(reins.EINVALID, "columns: %s is given twice", c)
		}
		out = append(out, c)
	}
	return out, nil
}

// parseConfirmOver reads the guard's threshold: "", a whole number of rows, or "auto".
func parseConfirmOver(v string) (string, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" || v == "auto" {
		return v, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
		return "", reins.Errorf(reins.EINVALID, "confirm_over must be a whole number of rows or auto, got %s", sheet.Quote(v))
	}
	return v, nil
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

// Header returns the export's CSV columns.
func (p Params) Header() []string {
	if p.Columns == nil {
		return reins.CustomerColumns
	}
	return p.Columns
}

// Describe says what the export covers, for the API's job_message.
func (p Params) Describe() string {
	return fmt.Sprintf("export of customers created from %s to %s started", p.DateGTE, p.DateLTE)
}

// marshal returns p as a job's params.
func (p Params) marshal() (json.RawMessage, error) { return json.Marshal(p) }
