package postgres

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/sqlstore"
)

// The LISTEN/NOTIFY channels: channel carries job ids for the signals between commands and
// runs; changeChannel carries every change of a job for live watchers (encodeChange).
const (
	channel       = "reins_job"
	changeChannel = "reins_change"
)

// encodeChange renders a change as a notification's payload: the job id, then "s" for a
// change of status or "p" for progress only.
func encodeChange(c reins.Change) string {
	if c.Status {
		return c.JobID.String() + " s"
	}
	return c.JobID.String() + " p"
}

func decodeChange(payload string) (reins.Change, bool) {
	id, kind, _ := strings.Cut(payload, " ")
	jobID, err := uuid.Parse(id)
	if err != nil {
		return reins.Change{}, false
	}
	return reins.Change{JobID: jobID, Status: kind != "p"}, true
}

// Notifier implements reins.Notifier with LISTEN/NOTIFY, so a command given to any process
// reaches the run in whichever process holds it, and the run's acknowledgement reaches the
// waiting request.
type Notifier struct {
	*sqlstore.Hub
	pool   *pgxpool.Pool
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{}

	// session is this process's liveness key: the LISTEN connection holds the advisory lock
	// (livenessClass, session) for as long as it lives, which is as long as the process does
	// (sqlstore.Liveness). held says it holds it now.
	session atomic.Int64
	held    atomic.Bool
}

// livenessClass is the first key of Reins' liveness locks, which sets them apart from other
// advisory locks on the database ("Rein").
const livenessClass = 0x5265696e

func newNotifier(pool *pgxpool.Pool) *Notifier {
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{Hub: sqlstore.NewHub(), pool: pool, cancel: cancel, ready: make(chan struct{})}
	n.wg.Add(1)
	go n.listen(ctx)
	return n
}

// Notify implements reins.Notifier.
func (n *Notifier) Notify(ctx context.Context, jobID uuid.UUID) error {
	_, err := n.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, jobID.String())
	return err
}

// Listening is closed once the first LISTEN is in place, for tests that must not miss a
// signal sent right after start.
func (n *Notifier) Listening() <-chan struct{} { return n.ready }

func (n *Notifier) close() {
	n.cancel()
	n.wg.Wait()
}

// listen holds one connection in LISTEN and reconnects when it is lost. After a reconnect
// every subscriber is woken, since signals sent meanwhile were missed.
func (n *Notifier) listen(ctx context.Context) {
	defer n.wg.Done()
	first := true
	for ctx.Err() == nil {
		err := n.listenOnce(ctx, &first)
		if ctx.Err() != nil {
			return
		}
		slog.Warn("reins: lost the LISTEN connection; reconnecting", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(listenRetry):
		}
	}
}

func (n *Notifier) listenOnce(ctx context.Context, first *bool) error {
	conn, err := n.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection leaves the pool for good: a LISTENing session must not serve queries.
	pgConn := conn.Hijack()
	defer pgConn.Close(context.Background())
	for _, ch := range []string{channel, changeChannel} {
		if _, err := pgConn.Exec(ctx, "LISTEN "+ch); err != nil {
			return err
		}
	}
	if err := n.lockSession(ctx, pgConn); err != nil {
		return err
	}
	defer n.held.Store(false)
	if *first {
		close(n.ready)
		*first = false
	} else {
		n.PublishAll()
	}
	for {
		note, err := pgConn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if note.Channel == changeChannel {
			if c, ok := decodeChange(note.Payload); ok {
				n.PublishChange(c)
			}
		} else if id, err := uuid.Parse(note.Payload); err == nil {
			n.Publish(id)
		}
	}
}

// lockSession takes this process's liveness lock on the LISTEN connection. The key is random;
// in the unlikely case that another session holds it, another key is drawn.
func (n *Notifier) lockSession(ctx context.Context, conn *pgx.Conn) error {
	for {
		key := n.session.Load()
		if key == 0 {
			key = 1 + rand.Int64N(1<<31-2)
			n.session.Store(key)
		}
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, int32(livenessClass), int32(key)).Scan(&ok); err != nil {
			return err
		}
		if ok {
			n.held.Store(true)
			return nil
		}
		n.session.Store(0)
	}
}

// Session implements sqlstore.Liveness.
func (n *Notifier) Session() *int64 {
	if !n.held.Load() {
		return nil
	}
	key := n.session.Load()
	return &key
}

// DeadSessions implements sqlstore.Liveness: the keys whose advisory lock no session of this
// database holds.
func (n *Notifier) DeadSessions(ctx context.Context, keys []int64) ([]int64, error) {
	rows, err := n.pool.Query(ctx, `SELECT k FROM unnest($1::bigint[]) k WHERE NOT EXISTS (
		SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
		AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND l.classid = $2::bigint::oid AND l.objid = k::oid)`, keys, int64(livenessClass))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
