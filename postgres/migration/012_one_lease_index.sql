-- Migration 011 created reins_jobs_leased as a copy of migration 003's
-- reins_jobs_lease_expires_at (the same column, the same predicate), so every change of a
-- lease wrote two index entries where one serves the rescuer. No query names either index.
DROP INDEX IF EXISTS reins_jobs_leased
