-- Issue 12: bulk team creation, the third job kind. A team belongs to the tenant of the job
-- that created it; its name is unique in the tenant; rollback deletes a job's teams by job_id.
CREATE TABLE teams (
    id         bigserial PRIMARY KEY,
    owner      text NOT NULL,
    name       varchar(100) NOT NULL,
    manager_id bigint REFERENCES customers (id) ON DELETE SET NULL,
    job_id     uuid,
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX teams_owner_name ON teams (owner, name);
CREATE INDEX teams_job_id ON teams (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX customers_email ON customers (email)
