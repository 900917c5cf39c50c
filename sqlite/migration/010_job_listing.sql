-- Issue 8 (watching jobs): the job listing pages newest first by (created_at, id) within a
-- tenant, optionally by status; the summary counts a tenant's jobs by status.
CREATE INDEX reins_jobs_owner_created_id ON reins_jobs (owner, created_at DESC, id DESC);
CREATE INDEX reins_jobs_owner_status_created_id ON reins_jobs (owner, status, created_at DESC, id DESC);
DROP INDEX reins_jobs_owner_created_at
