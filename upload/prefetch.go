package upload

import (
	"context"
	"errors"
	"sync"

	"github.com/reins-dev/reins/sheet"
)

// The read-ahead's bounds: records are handed over in chunks of at most chunkRecords records
// or about chunkBytes of values, and at most aheadChunks chunks wait, so the read-ahead holds
// a few MB whatever the file (a record is at most 1 MiB).
const (
	chunkRecords = 1024
	chunkBytes   = 512 << 10
	aheadChunks  = 8
)

// read is one outcome of the sheet reader's Next, with the reader's position after it.
type read struct {
	rec    sheet.Record // its Values are the read's own
	err    error        // a *sheet.RowError, io.EOF, or a final error
	offset int64
	line   int
}

// readAhead runs the sheet reader in a goroutine of its own, a bounded distance ahead of the
// task, so that parsing the next batch overlaps the database's work on the current one (on
// two cores the two used to take turns; docs/benchmarks.md "Import: where the time went").
// It reads exactly what the task would read, in the same order, and reports the reader's
// offset and line after every record, so checkpoints are the same as without it.
type readAhead struct {
	ch   chan []read
	quit chan struct{}
	done chan struct{}
	once sync.Once
	head []read // the chunk being consumed
}

func startReadAhead(r *sheet.Reader) *readAhead {
	ra := &readAhead{ch: make(chan []read, aheadChunks), quit: make(chan struct{}), done: make(chan struct{})}
	go ra.run(r)
	return ra
}

func (ra *readAhead) run(r *sheet.Reader) {
	defer close(ra.done)
	for {
		chunk := make([]read, 0, chunkRecords)
		var values []string // one backing array per chunk for the records' values
		size, final := 0, false
		for len(chunk) < chunkRecords && size < chunkBytes && !final {
			rec, err := r.Next()
			if err == nil {
				if cap(values)-len(values) < len(rec.Values) {
					values = make([]string, 0, chunkRecords*len(rec.Values))
				}
				start := len(values)
				values = append(values, rec.Values...)
				rec.Values = values[start:len(values):len(values)]
				for _, v := range rec.Values {
					size += len(v)
				}
			} else if !isRowError(err) {
				final = true // io.EOF or a final error: Next would only repeat it
			}
			chunk = append(chunk, read{rec: rec, err: err, offset: r.Offset(), line: r.Line()})
		}
		select {
		case ra.ch <- chunk:
		case <-ra.quit:
			return
		}
		if final {
			return
		}
	}
}

// next returns the next read, waiting for it unless ctx ends first.
func (ra *readAhead) next(ctx context.Context) (read, error) {
	if len(ra.head) == 0 {
		select {
		case <-ctx.Done():
			return read{}, ctx.Err()
		case ra.head = <-ra.ch:
		}
	}
	rd := ra.head[0]
	ra.head[0] = read{}
	ra.head = ra.head[1:]
	if len(ra.head) == 0 && rd.err != nil && !isRowError(rd.err) {
		// The last read: keep returning it, as the reader would.
		ra.head = []read{rd}
	}
	return rd, nil
}

// stop ends the goroutine and waits for it, so the file can be closed.
func (ra *readAhead) stop() {
	ra.once.Do(func() { close(ra.quit) })
	<-ra.done
}

func isRowError(err error) bool {
	var rowErr *sheet.RowError
	return errors.As(err, &rowErr)
}
