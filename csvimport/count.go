package csvimport

import (
	"errors"
	"io"
	"time"
)

// counter counts the records of a file as its bytes arrive, in a goroutine fed by a pipe.
type counter struct {
	pw      *io.PipeWriter
	done    chan struct{}
	records int64
	err     error // a bad header: the whole file is refused
}

func startCounter(now time.Time) *counter {
	pr, pw := io.Pipe()
	c := &counter{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		r, err := NewReader(pr, now)
		if err != nil {
			c.err = err
			pr.CloseWithError(err)
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
				// A final error: the import reports it when it reaches that record. Drain
				// the rest so the transfer is not held up.
				_, _ = io.Copy(io.Discard, pr)
			}
			return
		}
	}()
	return c
}

// write feeds bytes to the counter; it fails once the header is known to be bad.
func (c *counter) write(p []byte) error {
	if _, err := c.pw.Write(p); err != nil {
		<-c.done
		if c.err != nil {
			return c.err
		}
		return err
	}
	return nil
}

// finish ends the input and returns the record count.
func (c *counter) finish() (int64, error) {
	c.pw.Close()
	<-c.done
	return c.records, c.err
}

// abort ends the input early; the counter's result is then unused.
func (c *counter) abort() {
	c.pw.CloseWithError(io.ErrClosedPipe)
	<-c.done
}
