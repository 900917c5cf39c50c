// Package blob stores the files of jobs (export results, upload spools) in a local directory,
// which in a cluster is a volume every process shares.
package blob

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/reins-dev/reins"
)

// Store keeps blobs as files under a root directory. Keys are slash-separated relative paths.
type Store struct {
	root string
}

// New returns a Store rooted at dir, creating it if needed.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create blob dir: %w", err)
	}
	return &Store{root: dir}, nil
}

func (s *Store) path(key string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(key))
	if key == "" || filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", reins.Errorf(reins.EINVALID, "invalid blob key %q", key)
	}
	return filepath.Join(s.root, clean), nil
}

// OpenWriter opens the blob for writing at offset, truncating anything past it: bytes a
// crashed batch wrote after its last committed checkpoint are dropped before new ones go on.
func (s *Store) OpenWriter(key string, offset int64) (*os.File, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(offset); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Open opens the blob for reading. Returns ENOTFOUND when it does not exist.
func (s *Store) Open(key string) (*os.File, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, reins.Errorf(reins.ENOTFOUND, "file %s not found", key)
	}
	return f, err
}

// DeletePrefix removes the blob directory at prefix and everything in it; a missing one is
// not an error, so rollback can be repeated.
func (s *Store) DeletePrefix(prefix string) error {
	p, err := s.path(prefix)
	if err != nil {
		return err
	}
	return os.RemoveAll(p)
}

// Delete removes one blob; a missing one is not an error.
func (s *Store) Delete(key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Exists reports whether anything is stored at key (a blob or a prefix).
func (s *Store) Exists(key string) (bool, error) {
	p, err := s.path(key)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Link stores the blob at from also at to, without copying when the file system allows (a
// hard link; the two are then never written again), by copying otherwise. Returns ENOTFOUND
// when from does not exist.
func (s *Store) Link(from, to string) error {
	src, err := s.path(from)
	if err != nil {
		return err
	}
	dst, err := s.path(to)
	if err != nil {
		return err
	}
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		return reins.Errorf(reins.ENOTFOUND, "file %s not found", from)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := s.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := s.OpenWriter(to, 0)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
