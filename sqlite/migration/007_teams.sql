-- Issue 12: bulk team creation, the third job kind. A team belongs to the tenant of the job
-- that created it; its name is unique in the tenant; rollback deletes a job's teams by job_id.
CREATE TABLE teams (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    owner      TEXT NOT NULL,
    name       TEXT NOT NULL CHECK (length(name) <= 100),
    manager_id INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    job_id     TEXT,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX teams_owner_name ON teams (owner, name);
CREATE INDEX teams_job_id ON teams (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX customers_email ON customers (email)
