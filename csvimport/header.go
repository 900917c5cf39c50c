package csvimport

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Required are the header columns every customers CSV must have, in any order.
var Required = []string{"first_name", "last_name", "address", "email", "age", "company"}

// createdAt is the one optional column; without it every row gets the import's start time.
const createdAt = "created_at"

// checkColumns normalizes header names (trimmed, lower-cased) and returns them, or a reason
// naming every missing, unknown and duplicate column at once, so one upload fixes them all.
func checkColumns(names []string) ([]string, string) {
	cols := make([]string, len(names))
	for i, name := range names {
		if !utf8.ValidString(name) {
			return nil, "the header is not valid UTF-8"
		}
		cols[i] = strings.ToLower(strings.TrimSpace(name))
	}

	var missing, unknown, duplicate []string
	for _, name := range Required {
		if !slices.Contains(cols, name) {
			missing = append(missing, name)
		}
	}
	seen := make(map[string]bool, len(cols))
	for _, col := range cols {
		quoted := fmt.Sprintf("%q", col)
		switch {
		case seen[col]:
			if !slices.Contains(duplicate, quoted) {
				duplicate = append(duplicate, quoted)
			}
		case col != createdAt && !slices.Contains(Required, col):
			unknown = append(unknown, quoted)
		}
		seen[col] = true
	}

	var problems []string
	if len(missing) > 0 {
		problems = append(problems, "missing "+plural("column", len(missing))+": "+strings.Join(missing, ", "))
	}
	if len(unknown) > 0 {
		problems = append(problems, "unknown "+plural("column", len(unknown))+": "+strings.Join(unknown, ", "))
	}
	if len(duplicate) > 0 {
		problems = append(problems, "duplicate "+plural("column", len(duplicate))+": "+strings.Join(duplicate, ", "))
	}
	if len(problems) > 0 {
		return nil, strings.Join(problems, "; ") +
			" (the header must have " + strings.Join(Required, ", ") + " and optionally " + createdAt + ")"
	}
	return cols, ""
}

func plural(word string, n int) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
