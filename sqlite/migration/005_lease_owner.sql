ALTER TABLE reins_jobs ADD COLUMN lease_owner TEXT;
