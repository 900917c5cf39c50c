package sheet

import (
	"errors"
	"io"

	"github.com/reins-dev/reins"
)

// Check counts the records of a sheet as its bytes arrive, in a goroutine fed by a pipe, and
// refuses a bad header as soon as it has arrived. It implements reins.FileCheck.
type Check struct {
	pw      *io.PipeWriter
	done    chan struct{}
	records int64
	err     error // a bad header: the whole file is refused
}

var _ reins.FileCheck = (*Check)(nil)

// NewCheck starts checking a sheet of the given format.
func NewCheck(f *Format) *Check {
	pr, pw := io.Pipe()
	c := &Check{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		r, err := NewReader(pr, f)
		if err != nil {
			c.err = asInvalid(err)
			pr.CloseWithError(c.err)
			return
		}
		for {
			err := r.Skip()
			var rowErr *RowError
			switch {
			case err == nil || errors.As(err, &rowErr):
				c.records++
				continue
			case !errors.Is(err, io.EOF):
				// A final error: the job reports it when it reaches that record. Drain the
				// rest so the transfer is not held up.
				_, _ = io.Copy(io.Discard, pr)
			}
			return
		}
	}()
	return c
}

// asInvalid turns a bad header into the EINVALID error a client gets.
func asInvalid(err error) error {
	var rowErr *RowError
	if errors.As(err, &rowErr) {
		return reins.Errorf(reins.EINVALID, "%s", rowErr.Error())
	}
	return err
}

// Write feeds bytes to the check; it fails once the header is known to be bad.
func (c *Check) Write(p []byte) (int, error) {
	n, err := c.pw.Write(p)
	if err != nil {
		<-c.done
		if c.err != nil {
			return n, c.err
		}
	}
	return n, err
}

// Finish ends the input and returns the record count.
func (c *Check) Finish() (int64, error) {
	c.pw.Close()
	<-c.done
	return c.records, c.err
}

// Abort ends the input early; the check's result is then unused.
func (c *Check) Abort() {
	c.pw.CloseWithError(io.ErrClosedPipe)
	<-c.done
}
