-- See postgres/migration/014_job_ranges.sql. SQLite reserves no ids, so its imports keep
-- finding their rows by job_id; the schema is the same on both stores.
CREATE TABLE reins_job_ranges (
    job_id TEXT NOT NULL,
    lo     INTEGER NOT NULL,
    hi     INTEGER NOT NULL,
    PRIMARY KEY (job_id, lo)
);
ALTER TABLE customers ADD COLUMN job_ranged INTEGER;
DROP INDEX customers_job_id;
CREATE INDEX customers_job_id ON customers (job_id) WHERE job_id IS NOT NULL AND job_ranged IS NULL
