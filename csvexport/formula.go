package csvexport

import (
	"bytes"
	"io"
)

// formulaScan passes CSV bytes on to w and notes whether a cell of them starts with a
// character a spreadsheet would run as a formula (reins.IsFormula). It reads CSV as
// Postgres' COPY writes it: a cell holding a quote, comma or line break is quoted, a quote
// in it doubled, and records end with \n. The bytes may come in any pieces.
//
// On Postgres an export that escapes formulas has COPY write the page raw and checks it
// here, on the other core, instead of having the database test every cell: that test was
// about a third of the database's work for a page (docs/benchmarks.md, "Export: where the
// time went"). A page that holds such a cell, rare in real data, is read again with the
// database escaping it.
type formulaScan struct {
	w     io.Writer
	found bool
	state scanState
}

type scanState uint8

const (
	cellStart    scanState = iota // at the start of a cell
	cellOpened                    // right after a cell's opening quote
	inBare                        // in an unquoted cell
	inQuoted                      // in a quoted cell
	quoteInQuote                  // after a quote in a quoted cell: its end, or half of a doubled quote
)

func (s *formulaScan) Write(p []byte) (int, error) {
	if !s.found {
		s.scan(p)
	}
	return s.w.Write(p)
}

func (s *formulaScan) scan(p []byte) {
	st := s.state
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch st {
		case cellStart:
			switch {
			case c == '"':
				st = cellOpened
			case c == ',' || c == '\n':
			case isFormulaByte(c):
				s.found = true
				return
			default:
				st = inBare
			}
		case cellOpened:
			switch {
			case c == '"':
				st = quoteInQuote // an empty cell, or one starting with a quote
			case isFormulaByte(c):
				s.found = true
				return
			default:
				st = inQuoted
			}
		case inBare:
			// A plain loop: cells are short, and bytes.IndexAny builds its set on every call.
			for i < len(p) && p[i] != ',' && p[i] != '\n' {
				i++
			}
			if i < len(p) {
				st = cellStart
			}
		case inQuoted:
			j := bytes.IndexByte(p[i:], '"')
			if j < 0 {
				i = len(p)
				continue
			}
			i += j
			st = quoteInQuote
		case quoteInQuote:
			switch c {
			case '"':
				st = inQuoted
			case ',', '\n':
				st = cellStart
			default:
				st = inBare // not what COPY writes; read on as an unquoted cell
			}
		}
	}
	s.state = st
}

// isFormulaByte reports whether a cell starting with c is a formula: reins.IsFormula of a
// cell's first byte (TestFormulaScan checks every byte against it).
func isFormulaByte(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}
