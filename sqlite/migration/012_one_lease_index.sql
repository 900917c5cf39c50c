-- See postgres/migration/012_one_lease_index.sql.
DROP INDEX IF EXISTS reins_jobs_leased
