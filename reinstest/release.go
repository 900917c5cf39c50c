package reinstest

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoRelease says the source of a release is not at hand: git is missing, the tests do not
// run in a git checkout, or the checkout lacks the release's commit (a shallow clone).
var ErrNoRelease = errors.New("release source not available")

// BuildRelease builds the reins binary of an earlier release, the tree of commit in the
// repository that holds the working directory, into dir (as dir/reins-<commit>). It builds
// with BuildFlags and the same module and build caches, so only the release's own packages
// compile afresh. The error wraps ErrNoRelease when the release's source is not available.
func BuildRelease(commit, dir string) (string, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return "", fmt.Errorf("%w: git is not installed: %v", ErrNoRelease, err)
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("%w: not in a git checkout: %v", ErrNoRelease, err)
	}
	root := strings.TrimSpace(string(top))
	if out, err := exec.Command("git", "-C", root, "cat-file", "-e", commit+"^{commit}").CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: commit %s is not in %s (a shallow clone? fetch the full history): %v: %s",
			ErrNoRelease, commit, root, err, strings.TrimSpace(string(out)))
	}
	src := filepath.Join(dir, "src-"+commit)
	if err := extract(root, commit, src); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "reins-"+commit)
	cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, BuildFlags()...), "./cmd/reins")...)
	cmd.Dir = src
	// The release is a module of its own: no workspace of the caller's applies to it.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/reins at %s: %v\n%s", commit, err, out)
	}
	return bin, nil
}

// extract writes the tree of commit (git archive) into dst.
func extract(root, commit, dst string) error {
	cmd := exec.Command("git", "-C", root, "archive", "--format=tar", commit)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git archive %s: %v", commit, err)
	}
	untarErr := untar(out, dst)
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git archive %s: %v %s", commit, err, stderr.String())
	}
	return untarErr
}

// untar writes the regular files and directories of a tar stream under dst.
func untar(r io.Reader, dst string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		path := filepath.Join(dst, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(path, filepath.Clean(dst)+string(filepath.Separator)) {
			return fmt.Errorf("archive entry %q leaves %s", h.Name, dst)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777|0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
