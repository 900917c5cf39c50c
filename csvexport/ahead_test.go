package csvexport

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestTakeAheadPage hands a page read ahead to the run the way a read does: more than the
// pipe holds (so the read waits for the run), a reset after chunks already reached the
// file (a formula found: the page is read again), then the page again. The part then
// holds what it held before and the second reading, once; the chunks go back for reuse.
func TestTakeAheadPage(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "part.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := &countingWriter{w: f}
	task := &task{file: f, out: out, w: bufio.NewWriterSize(out, 256<<10)}
	before := []byte("header\n")
	if _, err := task.w.Write(before); err != nil {
		t.Fatal(err)
	}
	if err := task.w.Flush(); err != nil {
		t.Fatal(err)
	}

	first := bytes.Repeat([]byte("raw,row\n"), (aheadChunk*(aheadChunks+3))/8)
	second := bytes.Repeat([]byte("'=escaped,row\n"), 1000)
	p := &page{done: make(chan struct{}), pipe: newAheadPipe(context.Background(), nil)}
	go func() {
		defer close(p.done)
		defer close(p.pipe.chunks)
		if _, err := p.pipe.Write(first); err != nil {
			p.err = err
			return
		}
		if err := p.pipe.reset(); err != nil {
			p.err = err
			return
		}
		if _, err := p.pipe.Write(second); err != nil {
			p.err = err
			return
		}
		p.err = p.pipe.flush()
	}()
	if err := task.take(p); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if p.err != nil {
		t.Fatal(p.err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte(nil), before...), second...)
	if !bytes.Equal(got, want) || p.end != int64(len(want)) {
		t.Fatalf("the part holds %d bytes (end %d), want %d: the header and the second reading", len(got), p.end, len(want))
	}
	if len(task.spare) == 0 {
		t.Fatal("the page's chunks did not come back for the next read ahead")
	}
}

// TestAheadPipeCancelled checks that a read ahead the run never takes ends when its
// context does (Close cancels it), instead of waiting for room forever.
func TestAheadPipeCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := newAheadPipe(ctx, nil)
	done := make(chan error, 1)
	go func() {
		_, err := p.Write(bytes.Repeat([]byte("x"), aheadChunk*(aheadChunks+2)))
		done <- err
	}()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a read ahead nobody takes wrote everything")
	}
}
