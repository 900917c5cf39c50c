package csvexport

import "context"

// A page read ahead reaches the run in chunks of aheadChunk bytes, at most aheadChunks of
// them waiting: a read ahead holds a few MB at most, whatever the page's size, and waits for
// the run when they are all taken.
const (
	aheadChunk  = 256 << 10
	aheadChunks = 16
)

// aheadPages is how many pages an export reads ahead at once, each in its own transaction
// on a connection of its own: the database's share of an export then runs on every core,
// and one page's waits (its round trips, a buffer read) hide behind the others' work.
// aheadReads bounds the reads ahead of all of a process's exports together, which the
// database pool must leave room for (postgres.Open). On a 2-core machine a 1M-row export
// took 1.19-1.21 times COPY's time with 2 pages ahead, 1.04-1.14 with 3 and 0.91-1.06 with
// 4; but with 4 the reads crowd out the commit that answers a PAUSE (p99 of 20 PAUSEs
// mid-export 52-141 ms, against 39-61 ms with 3) (docs/benchmarks.md, "Export: pages read
// ahead side by side").
const (
	aheadPages = 3
	aheadReads = 8
)

// aheadPageRows caps the rows of a page when pages are read ahead. The run's batch sizer
// cannot see how long a page takes, since the page was read while earlier ones committed; it
// sees only the commit, and grows pages to the batch size's maximum. But a PAUSE waits for
// the page in flight, read on cores shared with the pages ahead: with 20,000-row pages a
// PAUSE mid-export took 5-56 ms (p50 27 ms), with 10,000 9-54 ms (p50 15 ms), the export as
// fast (docs/benchmarks.md, "PAUSE: fewer waits for the disk, smaller pages").
const aheadPageRows = 10_000

// aheadPipe carries a page read ahead from its read to the run, which alone writes the part
// (task.readAheadOf). A nil chunk says "drop what came so far" (the read starts the page
// again). Chunks the run has written go back to be filled again.
type aheadPipe struct {
	ctx    context.Context
	chunks chan []byte
	free   chan []byte
	cur    []byte
}

// newAheadPipe makes a pipe whose chunks come from free (the last pipe's), or new ones.
func newAheadPipe(ctx context.Context, free chan []byte) *aheadPipe {
	if free == nil {
		free = make(chan []byte, aheadChunks+2)
	}
	return &aheadPipe{ctx: ctx, chunks: make(chan []byte, aheadChunks), free: free}
}

// Write copies b into chunks, handing each full one to the run; it waits while aheadChunks
// are waiting, and gives up when the read is cancelled.
func (p *aheadPipe) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if p.cur == nil {
			select {
			case c := <-p.free:
				p.cur = c[:0]
			default:
				p.cur = make([]byte, 0, aheadChunk)
			}
		}
		k := min(len(b), cap(p.cur)-len(p.cur))
		p.cur = append(p.cur, b[:k]...)
		b = b[k:]
		if len(p.cur) == cap(p.cur) {
			if err := p.flush(); err != nil {
				return n - len(b) - k, err
			}
		}
	}
	return n, nil
}

// flush hands the chunk being filled to the run.
func (p *aheadPipe) flush() error {
	if len(p.cur) == 0 {
		return nil
	}
	if err := p.send(p.cur); err != nil {
		return err
	}
	p.cur = nil
	return nil
}

// reset drops what the pipe took of the page so far: the part filled, and, through a nil
// chunk, what the run already has.
func (p *aheadPipe) reset() error {
	p.cur = p.cur[:0]
	return p.send(nil)
}

func (p *aheadPipe) send(c []byte) error {
	select {
	case p.chunks <- c:
		return nil
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
}

// recycle gives a written chunk back to be filled again.
func (p *aheadPipe) recycle(c []byte) {
	select {
	case p.free <- c:
	default:
	}
}
