package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestRowset: files with the same rows in another order, quoted otherwise or with other
// line ends hold the same rows; a changed, missing or repeated row, or another header, does
// not.
func TestRowset(t *testing.T) {
	dir := t.TempDir()
	parse := func(name, text string) (rowset, error) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return readRowset(path)
	}
	read := func(name, text string) rowset {
		t.Helper()
		rs, err := parse(name, text)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	base := read("base", "a,b\nx,1\n\"y, z\",2\nq,3\n")
	for name, text := range map[string]string{
		"reordered":  "a,b\nq,3\nx,1\n\"y, z\",2\n",
		"requoted":   "a,b\r\n\"x\",1\r\n\"y, z\",\"2\"\r\nq,3\r\n",
		"no last LF": "a,b\n\"y, z\",2\nq,3\nx,1",
	} {
		if rs := read(name, text); !rs.sameRows(base) {
			t.Errorf("%s: %v, want the same rows as %v", name, rs, base)
		}
	}
	for name, text := range map[string]string{
		"changed":  "a,b\nx,1\n\"y, z\",2\nq,4\n",
		"missing":  "a,b\nx,1\n\"y, z\",2\n",
		"repeated": "a,b\nx,1\n\"y, z\",2\nq,3\nq,3\n",
		"swapped":  "a,b\nx,2\n\"y, z\",1\nq,3\n",
		"split":    "a,b\nx,1\ny, z,2\nq,3\n", // a parse error, which is no match either
		"header":   "a,c\nx,1\n\"y, z\",2\nq,3\n",
		"twice":    "a,b\nx,1\nx,1\nq,3\n",
	} {
		if rs, err := parse(name, text); err == nil && rs.sameRows(base) {
			t.Errorf("%s: %v holds the same rows as %v", name, rs, base)
		}
	}
}

func TestParseSizes(t *testing.T) {
	for in, want := range map[string][]int64{
		"":                          nil,
		"0":                         nil,
		"100000,1000000,10000000":   {100000, 1000000, 10000000},
		"10_000_000, 100000,100000": {100000, 10000000},
	} {
		got, err := parseSizes(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseSizes(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "100", "1000,-5", "1e6"} {
		if _, err := parseSizes(in); err == nil {
			t.Errorf("parseSizes(%q) took it", in)
		}
	}
}
