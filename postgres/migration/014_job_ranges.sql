-- An import's rows were found for its rollback by customers.job_id, through a partial index
-- that every imported row entered: about 75 bytes of WAL and a sixth of Postgres' work a
-- row (docs/benchmarks.md, "The import without a job_id index entry a row"). Where ids are
-- reserved before the rows go in (Postgres), each batch now records the ranges of its ids
-- here, in its own transaction, and marks its rows job_ranged; the rollback finds them by
-- the ranges on the primary key. The index is rebuilt to hold only the rows no range
-- covers: those of SQLite and of earlier releases, which still find theirs by job_id.
-- No foreign key to reins_jobs: its check would share-lock the job's row for the whole of a
-- batch whose rows go in beside the previous batch's commit, and a command's FOR UPDATE
-- would wait for those rows. A finished job's ranges go with it (DeleteFinishedJob).
CREATE TABLE reins_job_ranges (
    job_id uuid NOT NULL,
    lo     bigint NOT NULL,
    hi     bigint NOT NULL,
    PRIMARY KEY (job_id, lo)
);
ALTER TABLE customers ADD COLUMN job_ranged boolean;
DROP INDEX customers_job_id;
CREATE INDEX customers_job_id ON customers (job_id) WHERE job_id IS NOT NULL AND job_ranged IS NULL
