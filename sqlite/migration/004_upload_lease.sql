ALTER TABLE reins_uploads ADD COLUMN lease_expires_at TEXT;
