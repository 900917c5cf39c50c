-- See postgres/migration/011_lease_session.sql. SQLite has no sessions, so the column stays
-- NULL here and a lease's expiry decides.
ALTER TABLE reins_jobs ADD COLUMN lease_session INTEGER;
CREATE INDEX reins_jobs_leased ON reins_jobs (lease_expires_at) WHERE lease_token IS NOT NULL;
