CREATE TABLE reins_uploads (
    job_id     uuid PRIMARY KEY REFERENCES reins_jobs (id) ON DELETE CASCADE,
    file_name  text NOT NULL,
    spool_key  text NOT NULL,
    received   bigint NOT NULL DEFAULT 0,
    records    bigint,
    complete   boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
