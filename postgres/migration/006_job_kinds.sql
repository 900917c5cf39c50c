-- Issue 12 (job kinds) and issue 7 (honest progress). Leases say what holds them (a run of
-- some epoch, or an upload transfer), so a run of an older epoch loses its lease to the
-- current one and a rollback takes over from a transfer; runs record their recent rate; an
-- upload records the length the client declared.
ALTER TABLE reins_jobs ADD COLUMN lease_kind text;
ALTER TABLE reins_jobs ADD COLUMN lease_epoch bigint;
ALTER TABLE reins_jobs ADD COLUMN rate_per_s double precision;
ALTER TABLE reins_jobs ADD COLUMN rate_at timestamptz;
ALTER TABLE reins_uploads ADD COLUMN expected bigint;
-- Leases held by runs of the previous release: a rollback run's while the job is being
-- rolled back, a processing run's otherwise.
UPDATE reins_jobs SET lease_epoch = run_epoch,
    lease_kind = CASE WHEN status IN ('REVOKING', 'FAILED') THEN 'rollback' ELSE 'process' END
    WHERE lease_token IS NOT NULL;
-- Transfers of the previous release held a lease of their own, on the upload: it becomes the
-- job's, so the rescuer fails the job if its process died.
UPDATE reins_jobs SET lease_token = gen_random_uuid(), lease_kind = 'transfer', lease_epoch = run_epoch,
    lease_expires_at = (SELECT u.lease_expires_at FROM reins_uploads u WHERE u.job_id = reins_jobs.id)
    WHERE lease_token IS NULL AND status NOT IN ('REVOKING', 'REVOKED', 'COMPLETED', 'FAILED')
    AND EXISTS (SELECT 1 FROM reins_uploads u WHERE u.job_id = reins_jobs.id AND NOT u.complete
        AND u.lease_expires_at IS NOT NULL)
