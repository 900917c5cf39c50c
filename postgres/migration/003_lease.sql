ALTER TABLE reins_jobs ADD COLUMN lease_token uuid;
ALTER TABLE reins_jobs ADD COLUMN lease_expires_at timestamptz;
CREATE INDEX reins_jobs_lease_expires_at ON reins_jobs (lease_expires_at) WHERE lease_token IS NOT NULL;
