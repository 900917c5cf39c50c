package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestWalkthroughFilesIgnored checks that the files the README's walkthrough leaves in the
// repository's root are ignored by git, so they cannot be committed by accident.
func TestWalkthroughFilesIgnored(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is needed to check .gitignore")
	}
	for _, name := range []string{"export-6f1d2c3e-8c4b-4a55-9a1e-2f0c7b9d1a42.csv", "customers.csv", "data/reins.db", "data/files/x"} {
		cmd := exec.Command(git, "check-ignore", "--no-index", "-q", name)
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s is not ignored by .gitignore (%v) %s", name, err, strings.TrimSpace(string(out)))
		}
	}
}
