package sheet

import (
	"fmt"
	"strconv"
	"unicode/utf8"
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
// error report: at most 40 characters of the value, and at most 120 bytes once quoted (a
// control character is quoted as four bytes or more).
func Quote(v string) string {
	const runes, bytes = 40, 120
	end, n := len(v), 0
	for i := range v {
		if n == runes {
			end = i
			break
		}
		n++
	}
	q := strconv.Quote(v[:end])
	for len(q) > bytes {
		_, size := utf8.DecodeLastRuneInString(v[:end])
		end -= size
		q = strconv.Quote(v[:end])
	}
	if end < len(v) {
		q += "…"
	}
	return q
}
