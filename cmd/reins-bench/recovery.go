package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// recoveryRounds is how many times the recovery figure kills a worker.
const recoveryRounds = 5

// benchRecovery measures how soon a job moves again after the worker running it is
// SIGKILLed while a second worker is live: a second `reins serve` joins the first on the same
// database and data directory; a throttled export starts; the process holding its lease (read
// from reins_jobs) is killed; the time until the live process holds the lease, and until the
// job's done counter moves again, is measured from the kill. The killed process is replaced by
// a fresh one for the next round. It runs last: the first server may be among the killed.
func (b *bench) benchRecovery(ctx context.Context) error {
	servers := []*server{b.srv}
	defer func() {
		for _, s := range servers {
			if s != b.srv {
				_ = s.stop(10 * time.Second)
			}
		}
	}()
	start := func(n int) (*server, error) {
		dir := filepath.Join(b.tmp, fmt.Sprintf("serve-%d", n))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		return startServer(ctx, b.binary, b.serveArgs(), dir, b.pprof, b.logf)
	}
	second, err := start(1)
	if err != nil {
		return err
	}
	servers = append(servers, second)
	rate := int(max(1, b.opts.rows/40))
	var takeovers, moves []time.Duration
	for round := range recoveryRounds {
		api := newClient(servers[len(servers)-1].baseURL)
		id, err := api.export(ctx, rate)
		if err != nil {
			return err
		}
		if _, err := api.wait(ctx, id, 30*time.Second, "progress", func(st jobStatus) bool { return st.Progress.Done > 0 }); err != nil {
			return err
		}
		var owner string
		var done int64
		if err := b.db.QueryRow(ctx, `SELECT COALESCE(lease_owner, ''), done FROM reins_jobs WHERE id = $1`, id).Scan(&owner, &done); err != nil {
			return err
		}
		pid, err := strconv.Atoi(owner[strings.LastIndexByte(owner, ':')+1:])
		if err != nil {
			return fmt.Errorf("lease owner %q: %w", owner, err)
		}
		victim := slices.IndexFunc(servers, func(s *server) bool { return s.pid() == pid })
		if victim < 0 {
			return fmt.Errorf("round %d: the lease owner %q is none of the servers", round+1, owner)
		}
		killedAt := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return err
		}
		killed := servers[victim]
		<-killed.exited
		killed.logFile.Close()
		servers = slices.Delete(servers, victim, victim+1)
		var takeover time.Duration
		for {
			var now string
			var d int64
			if err := b.db.QueryRow(ctx, `SELECT COALESCE(lease_owner, ''), done FROM reins_jobs WHERE id = $1`, id).Scan(&now, &d); err != nil {
				return err
			}
			if takeover == 0 && now != "" && now != owner {
				takeover = time.Since(killedAt)
			}
			if takeover != 0 && d > done {
				moves = append(moves, time.Since(killedAt))
				takeovers = append(takeovers, takeover)
				break
			}
			if time.Since(killedAt) > b.opts.jobTimeout {
				return fmt.Errorf("round %d: the job did not move within %s of the kill", round+1, b.opts.jobTimeout)
			}
			if err := sleep(ctx, 2*time.Millisecond); err != nil {
				return err
			}
		}
		b.logf("round %d: killed pid %d; taken over after %s, moved after %s", round+1, pid, round3(takeovers[round]), round3(moves[round]))
		live := newClient(servers[0].baseURL)
		if _, err := live.command(ctx, id, "REVOKE"); err != nil {
			return err
		}
		replacement, err := start(round + 2)
		if err != nil {
			return err
		}
		servers = append(servers, replacement)
	}
	// The benchmark's own server may have been killed: later steps and teardown use the
	// first live one.
	b.srv, b.api = servers[0], newClient(servers[0].baseURL)
	slices.Sort(moves)
	slices.Sort(takeovers)
	worst := moves[len(moves)-1]
	b.report.add(row{
		figure: fmt.Sprintf("a worker SIGKILLed while a second is live: kill → job moves again (max of %d; takeover max %s)", recoveryRounds, millis(takeovers[len(takeovers)-1])),
		reins:  millis(worst), baseline: "–", ratio: "–", target: "≤ 1 s each time", pass: passMark(worst <= time.Second),
	})
	b.report.note("recovery: export throttled to %d rows/s; the holder (lease_owner) SIGKILLed; 2 ms polls of reins_jobs; takeover (the live process holds the lease) %s; job moves again (done grows) %s",
		rate, durations(takeovers), durations(moves))
	return nil
}

func round3(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
