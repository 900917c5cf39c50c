package csvimport

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/reins-dev/reins"
)

// Limits on a field's length, in characters (runes).
const (
	maxName    = 100
	maxAddress = 255
	maxEmail   = 254
	maxAge     = 150
)

// RowError describes one bad row or a bad file, for the import's error report.
type RowError struct {
	Line   int    `json:"line"`   // 1-based physical line where the record starts (the header is line 1)
	Column string `json:"column"` // column name, "" when the problem is the whole row or file
	Reason string `json:"reason"`
}

// Error formats the problem for people, e.g. `line 7, column age: must be ...`.
func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d, column %s: %s", e.Line, e.Column, e.Reason)
}

// customer validates one record whose fields are in the order of columns. It reports the
// first bad field, left to right, as the user sees the file.
func customer(columns, record []string, line int, now time.Time) (reins.Customer, error) {
	c := reins.Customer{CreatedAt: now}
	for i, col := range columns {
		v := record[i]
		var reason string
		switch {
		case !utf8.ValidString(v):
			reason = "not valid UTF-8"
		case strings.IndexByte(v, 0) >= 0:
			reason = "contains a NUL byte"
		default:
			reason = setField(&c, col, strings.TrimSpace(v))
		}
		if reason != "" {
			return reins.Customer{}, &RowError{Line: line, Column: col, Reason: reason}
		}
	}
	return c, nil
}

// setField stores the trimmed value v of column col in c, or returns why it is invalid.
func setField(c *reins.Customer, col, v string) string {
	switch col {
	case "first_name":
		c.FirstName = v
		return checkText(v, maxName)
	case "last_name":
		c.LastName = v
		return checkText(v, maxName)
	case "company":
		c.Company = v
		return checkText(v, maxName)
	case "address":
		c.Address = v
		return checkText(v, maxAddress)
	case "email":
		c.Email = v
		if reason := checkText(v, maxEmail); reason != "" {
			return reason
		}
		if !plausibleEmail(v) {
			return "must be an email address like name@example.com, got " + quote(v)
		}
	case "age":
		age, ok := parseAge(v)
		if !ok {
			return fmt.Sprintf("must be a whole number from 0 to %d, got %s", maxAge, quote(v))
		}
		c.Age = age
	case createdAt:
		if v == "" {
			return "" // keep the import's start time
		}
		t, ok := parseTime(v)
		if !ok {
			return "must be a date YYYY-MM-DD or a time like 2020-05-01T10:00:00Z, got " + quote(v)
		}
		c.CreatedAt = t
	}
	return ""
}

func checkText(v string, maximum int) string {
	if v == "" {
		return "must not be empty"
	}
	if n := utf8.RuneCountInString(v); n > maximum {
		return fmt.Sprintf("must be at most %d characters, got %d", maximum, n)
	}
	return ""
}

// plausibleEmail catches the mistakes a swapped or shifted column makes; it does not try to
// implement RFC 5322.
func plausibleEmail(v string) bool {
	if strings.IndexFunc(v, unicode.IsSpace) >= 0 || strings.Count(v, "@") != 1 {
		return false
	}
	local, domain, _ := strings.Cut(v, "@")
	dot := strings.IndexByte(domain, '.')
	return local != "" && dot > 0 && !strings.HasSuffix(domain, ".")
}

func parseAge(v string) (int, bool) {
	if v == "" || strings.Trim(v, "0123456789") != "" {
		return 0, false // no signs, decimals or spaces: Atoi alone would accept "+5"
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n <= maxAge
}

// parseTime accepts RFC 3339 or a bare date (midnight UTC); time.Parse rejects dates that
// do not exist, such as 2021-02-30.
func parseTime(v string) (time.Time, bool) {
	layout := time.RFC3339
	if len(v) == len(time.DateOnly) {
		layout = time.DateOnly
	}
	t, err := time.Parse(layout, v)
	return t.UTC(), err == nil
}

// quote shows a bad value in a message, shortened so that a huge field cannot flood the
// import's error report.
func quote(v string) string {
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
