package csvexport

import (
	"io"
	"os"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
)

// OpenResult returns the export's CSV: the committed bytes of each part, in order, and its
// size.
func OpenResult(b *blob.Store, job *reins.Job) (io.ReadCloser, int64, error) {
	_, cp, err := decode(job)
	if err != nil {
		return nil, 0, err
	}
	var readers []io.Reader
	var files []*os.File
	var size int64
	for _, p := range cp.Parts {
		f, err := b.Open(p.Key)
		if err != nil {
			closeAll(files)
			return nil, 0, err
		}
		files = append(files, f)
		readers = append(readers, io.LimitReader(f, p.Size))
		size += p.Size
	}
	return &multiReadCloser{Reader: io.MultiReader(readers...), files: files}, size, nil
}

type multiReadCloser struct {
	io.Reader
	files []*os.File
}

func (m *multiReadCloser) Close() error { return closeAll(m.files) }

func closeAll(files []*os.File) error {
	var first error
	for _, f := range files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// countingWriter counts the bytes written through it: the part's size after a flush.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// OpenResult returns the finished export's CSV, its size and the file name to save it as.
func (k *Kind) OpenResult(job *reins.Job) (io.ReadCloser, int64, string, error) {
	r, size, err := OpenResult(k.Blob, job)
	return r, size, "export-" + job.ID.String() + ".csv", err
}
