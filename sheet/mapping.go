package sheet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/reins-dev/reins"
)

// Limits on a mapping, so that a parameter cannot grow without bound.
const (
	maxMappingEntries = MaxColumns
	maxHeaderName     = 200
)

// ParseMapping validates a mapping parameter: a JSON object whose keys are a sheet's header
// names and whose values are the format's field names, or "" to ignore the column. ""
// (no parameter) is no mapping. Returns EINVALID naming every problem.
func ParseMapping(text string, fields []Field) (map[string]string, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	var m map[string]string
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, reins.Errorf(reins.EINVALID,
			`mapping must be a JSON object of header names to field names, such as {"Lead email": "manager_email"}, got %s`, Quote(text))
	}
	if len(m) > maxMappingEntries {
		return nil, reins.Errorf(reins.EINVALID, "mapping has %d entries; at most %d are allowed", len(m), maxMappingEntries)
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	var problems []string
	targets := map[string]string{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := m[k]
		switch {
		case strings.TrimSpace(k) == "" || len(k) > maxHeaderName:
			problems = append(problems, fmt.Sprintf("header name %s must be 1 to %d characters", Quote(k), maxHeaderName))
		case strings.ContainsFunc(k, unicode.IsControl) || !utf8.ValidString(k):
			// No CSV header can match such a name, and Postgres cannot store a NUL.
			problems = append(problems, fmt.Sprintf("header name %s has control characters or invalid UTF-8", Quote(k)))
		case v == "":
		case !slices.Contains(names, v):
			problems = append(problems, fmt.Sprintf("%s maps to %s, which is not a field (fields: %s)", Quote(k), Quote(v), strings.Join(names, ", ")))
		case targets[v] != "":
			problems = append(problems, fmt.Sprintf("%s and %s both map to %s", Quote(targets[v]), Quote(k), v))
		default:
			targets[v] = k
		}
	}
	if len(problems) > 0 {
		return nil, reins.Errorf(reins.EINVALID, "mapping: %s", list(problems, 10))
	}
	return m, nil
}

// MappingJSON renders a mapping for a job's params (keys sorted, as encoding/json does).
func MappingJSON(m map[string]string) json.RawMessage {
	if len(m) == 0 {
		return nil
	}
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(m)
	return bytes.TrimSpace(b.Bytes())
}
