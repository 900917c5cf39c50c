package postgres

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
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
}

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
