-- Issue 12 §4 (fix and restart) and issue 7 §3 (a repeatable seed). A restarted upload job
-- links to its successor and back; the successor waits for the old job's rollback to end
-- (rolled_back_at) before it runs. An upload's spool outlives its job for the retention
-- period; spool_removed_at says the sweeper removed it. Demo customers carry the seed they
-- belong to, so seeding again replaces exactly them. Every column is additive with a NULL
-- default: jobs paused, running or rolling back carry on unchanged.
ALTER TABLE reins_jobs ADD COLUMN restart_of uuid;
ALTER TABLE reins_jobs ADD COLUMN restarted_as uuid;
ALTER TABLE reins_jobs ADD COLUMN waits_for uuid;
ALTER TABLE reins_jobs ADD COLUMN rolled_back_at timestamptz;
CREATE INDEX reins_jobs_waits_for ON reins_jobs (waits_for) WHERE waits_for IS NOT NULL;
ALTER TABLE reins_uploads ADD COLUMN spool_removed_at timestamptz;
ALTER TABLE customers ADD COLUMN demo_of bigint;
ALTER TABLE customers ADD COLUMN demo_index bigint;
CREATE INDEX customers_demo_of ON customers (demo_of) WHERE demo_of IS NOT NULL;
-- Rollbacks the previous release finished: every revoked job's, and a failed job's that
-- counted its work down to nothing and holds no lease. A rollback still under way sets
-- rolled_back_at when it ends.
UPDATE reins_jobs SET rolled_back_at = updated_at
    WHERE status = 'REVOKED' OR (status = 'FAILED' AND done = 0 AND lease_token IS NULL);
