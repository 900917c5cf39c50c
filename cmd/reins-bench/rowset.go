package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strings"
)

// rowset is a CSV file's rows as a multiset, independent of their order and of how each
// field is quoted or each line ended: an export's row order is unspecified (docs/design.md
// §6 compares it with a COPY that has no ORDER BY), and the sqlite3 shell quotes and ends
// lines its own way. Two files hold the same rows when their header, row count and the
// 128-bit sum of their rows' SHA-256 agree.
type rowset struct {
	header string
	rows   int64
	sum    [2]uint64 // the sum, modulo 2^128, of each row's SHA-256 truncated to 128 bits
	bytes  int64     // the file's size, for the report
}

// readRowset parses the CSV file at path (a header line, then rows).
func readRowset(path string) (rowset, error) {
	f, err := os.Open(path)
	if err != nil {
		return rowset{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return rowset{}, err
	}
	rs := rowset{bytes: st.Size()}
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return rs, fmt.Errorf("%s: header: %w", path, err)
	}
	rs.header = strings.Join(header, ",")
	h := sha256.New()
	var sum [sha256.Size]byte
	var n [binary.MaxVarintLen64]byte
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rs, nil
		}
		if err != nil {
			return rs, fmt.Errorf("%s: %w", path, err)
		}
		h.Reset()
		for _, field := range rec {
			h.Write(n[:binary.PutUvarint(n[:], uint64(len(field)))])
			io.WriteString(h, field)
		}
		h.Sum(sum[:0])
		lo, carry := bits.Add64(rs.sum[0], binary.LittleEndian.Uint64(sum[0:8]), 0)
		hi, _ := bits.Add64(rs.sum[1], binary.LittleEndian.Uint64(sum[8:16]), carry)
		rs.sum = [2]uint64{lo, hi}
		rs.rows++
	}
}

// sameRows reports whether two files hold the same header and the same multiset of rows.
func (a rowset) sameRows(b rowset) bool {
	return a.header == b.header && a.rows == b.rows && a.sum == b.sum
}

// String names the rows for a log line or note: count and a short digest.
func (a rowset) String() string {
	return fmt.Sprintf("%s rows, row-sum %016x%016x", count(a.rows), a.sum[1], a.sum[0])
}
