package postgres_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// privateServer is a Postgres server of the test's own, in a temporary directory, that the
// test may stop and start without disturbing the tests that share the machine's server.
type privateServer struct {
	t    *testing.T
	bin  string
	dir  string
	port int
}

// startPrivateServer initdb's and starts a server. It skips the test where no Postgres
// server binaries are installed, except in CI, where it fails.
func startPrivateServer(t *testing.T) *privateServer {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("no /usr/lib/postgresql/*/bin/initdb: the Postgres restart test must run in CI")
		}
		t.Skip("no Postgres server binaries to start a private server")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &privateServer{t: t, bin: filepath.Dir(matches[len(matches)-1]), dir: t.TempDir(), port: port}
	if os.Geteuid() == 0 {
		// Postgres refuses to run as root: hand the directory to the postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(filepath.Dir(s.dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(s.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	s.run("initdb", "-D", s.dir+"/data", "-A", "trust", "-U", "postgres", "--no-sync")
	s.start()
	t.Cleanup(func() { _ = s.pgctl("stop", "-m", "immediate") })
	return s
}

// run runs a server binary, as the postgres user when the test runs as root.
func (s *privateServer) run(name string, args ...string) {
	s.t.Helper()
	if out, err := s.command(name, args...).CombinedOutput(); err != nil {
		s.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func (s *privateServer) command(name string, args ...string) *exec.Cmd {
	bin := filepath.Join(s.bin, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

func (s *privateServer) pgctl(args ...string) error {
	args = append([]string{"-D", s.dir + "/data", "-w", "-t", "60"}, args...)
	if out, err := s.command("pg_ctl", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl %v: %v\n%s", args, err, out)
	}
	return nil
}

func (s *privateServer) start() {
	s.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", s.port, s.dir)
	if err := s.pgctl("start", "-l", s.dir+"/log", "-o", opts); err != nil {
		s.t.Fatal(err)
	}
}

func (s *privateServer) stop() {
	s.t.Helper()
	if err := s.pgctl("stop", "-m", "fast"); err != nil {
		s.t.Fatal(err)
	}
}

func (s *privateServer) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// TestPostgresRestart restarts the Postgres server itself in the middle of an export:
// the API answers 503 while it is down, and the export then completes exactly.
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	s := startPrivateServer(t)
	exportThrough(t, s.url(), s.stop, s.start)
}
