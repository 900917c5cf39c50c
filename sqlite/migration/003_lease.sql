ALTER TABLE reins_jobs ADD COLUMN lease_token TEXT;
ALTER TABLE reins_jobs ADD COLUMN lease_expires_at TEXT;
CREATE INDEX reins_jobs_lease_expires_at ON reins_jobs (lease_expires_at) WHERE lease_token IS NOT NULL;
