package sheet

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Field is one field the records of a sheet fill.
type Field struct {
	Name     string
	Required bool
}

// Format is what a kind's sheets must hold: its fields, and how a sheet's header names map
// to them. With no mapping, a column fills the field of its own name (trimmed, any case).
type Format struct {
	Fields []Field
	// Mapping maps a sheet's header names (matched trimmed, in any case) to field names; a
	// column mapped to "" is ignored.
	Mapping map[string]string
}

// normalize is how header names are compared and kept in checkpoints.
func normalize(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// fieldIndex returns the index of the named field, or -1.
func (f *Format) fieldIndex(name string) int {
	return slices.IndexFunc(f.Fields, func(fl Field) bool { return fl.Name == name })
}

// resolve matches a header against the format: for each column, the index of the field it
// fills (-1: ignored). It returns the columns normalized (as checkpoints keep them), or a
// reason naming every problem at once (mapped columns the sheet lacks, required fields without a column, unknown and
// duplicate columns), so one upload fixes them all.
func (f *Format) resolve(names []string) (cols []string, fields []int, reason string) {
	cols = make([]string, len(names))
	for i, name := range names {
		if !utf8.ValidString(name) {
			return nil, nil, "the header is not valid UTF-8"
		}
		cols[i] = normalize(name)
	}
	mapping := make(map[string]string, len(f.Mapping))
	for k, v := range f.Mapping {
		mapping[normalize(k)] = v
	}
	var lacking, unknown, duplicate, missing []string
	for k := range mapping {
		if !slices.Contains(cols, k) {
			lacking = append(lacking, Quote(k))
		}
	}
	slices.Sort(lacking)
	fields = make([]int, len(cols))
	filled := make(map[int]bool, len(cols))
	seen := make(map[string]bool, len(cols))
	for i, col := range cols {
		target, mapped := mapping[col]
		if !mapped {
			target = col
		}
		fields[i] = f.fieldIndex(target)
		quoted := Quote(col)
		switch {
		case seen[col] || fields[i] >= 0 && filled[fields[i]]:
			if !slices.Contains(duplicate, quoted) {
				duplicate = append(duplicate, quoted)
			}
		case mapped && target == "":
		case fields[i] < 0:
			unknown = append(unknown, quoted)
		}
		seen[col] = true
		if fields[i] >= 0 {
			filled[fields[i]] = true
		}
	}
	for i, fl := range f.Fields {
		if fl.Required && !filled[i] {
			missing = append(missing, fl.Name)
		}
	}
	var problems []string
	if len(lacking) > 0 {
		problems = append(problems, "the mapping names "+plural("column", len(lacking))+" the sheet lacks: "+strings.Join(lacking, ", "))
	}
	if len(missing) > 0 {
		problems = append(problems, "missing "+plural("column", len(missing))+": "+strings.Join(missing, ", "))
	}
	if len(unknown) > 0 {
		problems = append(problems, "unknown "+plural("column", len(unknown))+": "+list(unknown, 10))
	}
	if len(duplicate) > 0 {
		problems = append(problems, "duplicate "+plural("column", len(duplicate))+": "+list(duplicate, 10))
	}
	if len(problems) > 0 {
		return nil, nil, strings.Join(problems, "; ") + " (" + f.rule() + ")"
	}
	return cols, fields, ""
}

// rule says what a header must hold, for error messages.
func (f *Format) rule() string {
	var required, optional []string
	for _, fl := range f.Fields {
		if fl.Required {
			required = append(required, fl.Name)
		} else {
			optional = append(optional, fl.Name)
		}
	}
	rule := "the header must have " + strings.Join(required, ", ")
	if len(optional) > 0 {
		rule += " and optionally " + strings.Join(optional, ", ")
	}
	if len(f.Mapping) > 0 {
		rule += ", after the mapping"
	} else {
		rule += `; a mapping can rename or ignore columns`
	}
	return rule
}

// list joins the first n items and says how many more there are, so a header of a hundred
// thousand columns does not make a message of a megabyte.
func list(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

func plural(word string, n int) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
