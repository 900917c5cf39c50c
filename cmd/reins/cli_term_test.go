package main

import (
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/reins-dev/reins/reinstest"
)

// ptyRun is the client running on a pseudo-terminal of its own, as a person runs it.
type ptyRun struct {
	name   string
	ptmx   *os.File
	out    *lockedBuffer // everything the program wrote to the terminal
	exited chan struct{}
	cmd    *exec.Cmd
}

const termCols, termRows = 112, 40

func startPTY(t *testing.T, env []string, dir string, args ...string) *ptyRun {
	t.Helper()
	cmd := exec.Command(reinsBinary(t), args...)
	cmd.Env, cmd.Dir = append(env, "TERM=xterm"), dir
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: termCols, Rows: termRows})
	if err != nil {
		t.Fatal(err)
	}
	r := &ptyRun{name: "reins " + strings.Join(args, " "), ptmx: ptmx, out: &lockedBuffer{}, exited: make(chan struct{}), cmd: cmd}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(r.out, ptmx) // ends with EIO once the program exits
		close(copied)
	}()
	go func() {
		_ = cmd.Wait()
		<-copied
		close(r.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			_ = cmd.Process.Kill()
		}
		_ = ptmx.Close()
	})
	return r
}

// waitFor waits until the terminal shows s.
func (r *ptyRun) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(r.out.String(), s) {
		select {
		case <-r.exited:
			if strings.Contains(r.out.String(), s) {
				return
			}
			t.Fatalf("%s exited before showing %q; it showed:\n%s", r.name, s, r.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q within %s; it showed:\n%s", r.name, s, waitLimit, r.out.String())
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not synchronisation
	}
}

func (r *ptyRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-r.exited:
	case <-time.After(waitLimit):
		t.Fatalf("%s did not exit within %s; it showed:\n%s", r.name, waitLimit, r.out.String())
	}
	return r.cmd.ProcessState.ExitCode()
}

// TestCLITerminal runs the client on a terminal: Ctrl-C during export --wait asks what to
// do and pauses the job; watch draws a live bar to COMPLETED; list draws a table. On SQLite
// it renders the session into a PNG (docs/img/cli.png with REINS_UPDATE_DOCS_IMG=1).
func TestCLITerminal(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		const n = 10000
		s := startCLIServer(t, kind, n)
		dir := t.TempDir()
		vt := newVT(termCols)
		session := func(args ...string) *ptyRun {
			vt.write([]byte("\x1b[32m$ reins " + strings.Join(args, " ") + "\x1b[0m\n"))
			return startPTY(t, s.env, dir, args...)
		}

		// 1,000 rows a second: ten seconds of work, interrupted as soon as the bar moves.
		exp := session("export", "--from", "2015-01-01", "--to", "2024-12-31", "--max-rows-per-s", "1000", "--wait", "--out", "customers.csv")
		exp.waitFor(t, "rows/s")
		if _, err := exp.ptmx.Write([]byte{3}); err != nil { // Ctrl-C, as the keyboard sends it
			t.Fatal(err)
		}
		exp.waitFor(t, "[p]ause it, [r]evoke it, or [l]eave it running?")
		if _, err := exp.ptmx.Write([]byte("p\n")); err != nil {
			t.Fatal(err)
		}
		if code := exp.wait(t); code != 130 {
			t.Fatalf("export --wait paused at the prompt exited %d, want 130; it showed:\n%s", code, exp.out.String())
		}
		vt.write([]byte(exp.out.String()))
		out := exp.out.String()
		i := strings.Index(out, "export ")
		id := strings.Fields(out[i:])[1]
		if st := s.api.status(id); st.JobStatus != "PAUSED" || st.Progress.Done >= n {
			t.Fatalf("after choosing pause the job is %s with done=%d, want PAUSED before %d", st.JobStatus, st.Progress.Done, n)
		}
		if !strings.Contains(out, "reins jobs resume "+id) {
			t.Errorf("the pause does not say how to resume:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(dir, "customers.csv")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("an interrupted export --out wrote its file (%v)", err)
		}

		res := session("jobs", "resume", id)
		if code := res.wait(t); code != 0 {
			t.Fatalf("jobs resume exited %d:\n%s", code, res.out.String())
		}
		vt.write([]byte(res.out.String()))

		watch := session("jobs", "watch", id)
		if code := watch.wait(t); code != 0 {
			t.Fatalf("jobs watch exited %d:\n%s", code, watch.out.String())
		}
		vt.write([]byte(watch.out.String()))
		if w := watch.out.String(); !strings.Contains(w, "100%") || !strings.Contains(w, humanCount(n)+"/"+humanCount(n)) && !strings.Contains(w, strconv.Itoa(n)+"/"+strconv.Itoa(n)) {
			t.Errorf("jobs watch on a terminal drew no full bar:\n%q", w)
		}

		list := session("jobs", "list")
		if code := list.wait(t); code != 0 {
			t.Fatalf("jobs list exited %d:\n%s", code, list.out.String())
		}
		vt.write([]byte(list.out.String()))
		if l := list.out.String(); !strings.Contains(l, "ID  ") || !strings.Contains(l, id+"  export  COMPLETED") {
			t.Errorf("jobs list on a terminal is no aligned table:\n%s", l)
		}

		if kind.Name != "sqlite" {
			return
		}
		path := filepath.Join(t.TempDir(), "cli.png")
		if os.Getenv("REINS_UPDATE_DOCS_IMG") != "" {
			path = filepath.Join("..", "..", "docs", "img", "cli.png")
		}
		if err := vt.png(path); err != nil {
			t.Fatal(err)
		}
		t.Logf("terminal session:\n%s", vt.text())
	})
}

// vt is a small terminal emulator, enough for the client's output: text, CR, LF, backspace,
// and the CSI sequences for erasing, moving the cursor and colour (green or not).
type vt struct {
	mu    sync.Mutex
	cols  int
	lines [][]cell
	row   int
	col   int
	green bool
}

type cell struct {
	r     rune
	green bool
}

func newVT(cols int) *vt { return &vt{cols: cols, lines: [][]cell{nil}} }

func (v *vt) line() *[]cell {
	for v.row >= len(v.lines) {
		v.lines = append(v.lines, nil)
	}
	return &v.lines[v.row]
}

func (v *vt) write(p []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	rs := []rune(string(p))
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\r':
			v.col = 0
		case r == '\n':
			v.row++
			v.col = 0
			v.line()
		case r == '\b':
			v.col = max(0, v.col-1)
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			for j < len(rs) && (rs[j] < 0x40 || rs[j] > 0x7e) {
				j++
			}
			if j >= len(rs) {
				return
			}
			v.csi(string(rs[i+2:j]), rs[j])
			i = j
		case r < 0x20:
		default:
			if v.col >= v.cols {
				v.row++
				v.col = 0
			}
			l := v.line()
			for len(*l) <= v.col {
				*l = append(*l, cell{r: ' '})
			}
			(*l)[v.col] = cell{r: r, green: v.green}
			v.col++
		}
	}
}

func (v *vt) csi(params string, final rune) {
	n, err := strconv.Atoi(strings.TrimPrefix(params, "?"))
	if err != nil {
		n = 0
	}
	l := v.line()
	switch final {
	case 'K':
		switch n {
		case 0:
			if v.col < len(*l) {
				*l = (*l)[:v.col]
			}
		case 1:
			for i := 0; i < v.col && i < len(*l); i++ {
				(*l)[i] = cell{r: ' '}
			}
		case 2:
			*l = nil
		}
	case 'J':
		if v.col < len(*l) {
			*l = (*l)[:v.col]
		}
		v.lines = v.lines[:v.row+1]
	case 'A':
		v.row = max(0, v.row-max(1, n))
	case 'B':
		v.row += max(1, n)
	case 'C':
		v.col += max(1, n)
	case 'D':
		v.col = max(0, v.col-max(1, n))
	case 'G':
		v.col = max(0, n-1)
	case 'm':
		v.green = strings.Contains(params, "32")
	}
}

func (v *vt) text() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var b strings.Builder
	for _, l := range v.lines {
		for _, c := range l {
			b.WriteRune(c.r)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// png draws the screen with the 7x13 bitmap font at twice its size.
func (v *vt) png(path string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	lines := v.lines
	for len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	const cw, ch, pad = 7, 15, 10
	small := image.NewRGBA(image.Rect(0, 0, v.cols*cw+2*pad, len(lines)*ch+2*pad))
	bg := color.RGBA{0x1d, 0x1f, 0x21, 0xff}
	fg := color.RGBA{0xd8, 0xd8, 0xd8, 0xff}
	green := color.RGBA{0x8a, 0xd0, 0x6a, 0xff}
	draw.Draw(small, small.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	for y, l := range lines {
		for x, c := range l {
			col := fg
			if c.green {
				col = green
			}
			if c.r == '█' {
				draw.Draw(small, image.Rect(pad+x*cw, pad+y*ch+2, pad+(x+1)*cw, pad+y*ch+ch-1), image.NewUniform(green), image.Point{}, draw.Src)
				continue
			}
			r := c.r
			if r > 0x7e {
				r = '?'
			}
			d := font.Drawer{Dst: small, Src: image.NewUniform(col), Face: basicfont.Face7x13,
				Dot: fixed.P(pad+x*cw, pad+y*ch+11)}
			d.DrawString(string(r))
		}
	}
	big := image.NewRGBA(image.Rect(0, 0, small.Bounds().Dx()*2, small.Bounds().Dy()*2))
	for y := range big.Bounds().Dy() {
		for x := range big.Bounds().Dx() {
			big.Set(x, y, small.At(x/2, y/2))
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, big); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
