package reinstest

import (
	"errors"
	"testing"
)

// TestBuildReleaseMissing checks that a release whose commit is not at hand is reported as
// ErrNoRelease (which the upgrade test turns into a failure in CI), before any build.
func TestBuildReleaseMissing(t *testing.T) {
	t.Parallel()
	_, err := BuildRelease("0123456789abcdef0123456789abcdef01234567", t.TempDir())
	if !errors.Is(err, ErrNoRelease) {
		t.Fatalf("BuildRelease of a missing commit: %v, want ErrNoRelease", err)
	}
	t.Log(err)
}
