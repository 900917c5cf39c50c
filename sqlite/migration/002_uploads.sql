CREATE TABLE reins_uploads (
    job_id     TEXT PRIMARY KEY REFERENCES reins_jobs (id) ON DELETE CASCADE,
    file_name  TEXT NOT NULL,
    spool_key  TEXT NOT NULL,
    received   INTEGER NOT NULL DEFAULT 0,
    records    INTEGER,
    complete   BOOLEAN NOT NULL DEFAULT false,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
