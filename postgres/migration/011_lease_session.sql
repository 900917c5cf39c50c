-- The liveness session of the process holding a job's lease (docs/architecture.md, "Leases
-- and liveness"): when that session is gone, the holder died and a live worker takes the job
-- over at once instead of waiting for the lease to expire. NULL: unknown (an older release,
-- or a store without sessions); the lease's expiry then decides, as before.
ALTER TABLE reins_jobs ADD COLUMN lease_session bigint;
-- The rescuer looks at held leases several times a second.
CREATE INDEX reins_jobs_leased ON reins_jobs (lease_expires_at) WHERE lease_token IS NOT NULL;
