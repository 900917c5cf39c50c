package sheet

import (
	"fmt"
	"strconv"
)

// RowError describes one bad row or a bad file, for a job's error report.
type RowError struct {
	Line   int    `json:"line"`   // 1-based physical line where the record starts (the header is line 1)
	Column string `json:"column"` // the sheet's column name, "" when the problem is the whole row or file
	Reason string `json:"reason"`
}

// Error formats the problem for people, e.g. `line 7, column age: must be ...`.
func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d, column %s: %s", e.Line, e.Column, e.Reason)
}

// Quote shows a bad value in a message, shortened so that a huge field cannot flood a job's
// error report.
func Quote(v string) string {
	const limit = 40
	n := 0
	for i := range v {
		if n == limit {
			return strconv.Quote(v[:i]) + "…"
		}
		n++
	}
	return strconv.Quote(v)
}
