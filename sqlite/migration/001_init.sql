CREATE TABLE reins_jobs (
    id          TEXT PRIMARY KEY,
    job_type    TEXT NOT NULL,
    status      TEXT NOT NULL,
    owner       TEXT NOT NULL DEFAULT 'default',
    params      TEXT NOT NULL DEFAULT '{}',
    run_epoch   INTEGER NOT NULL DEFAULT 1,
    done        INTEGER NOT NULL DEFAULT 0,
    total       INTEGER,
    active_ms   INTEGER NOT NULL DEFAULT 0,
    checkpoint  TEXT NOT NULL DEFAULT '{}',
    error       TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT
);
CREATE INDEX reins_jobs_owner_created_at ON reins_jobs (owner, created_at DESC);
CREATE TABLE reins_job_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL REFERENCES reins_jobs (id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX reins_job_events_job_id ON reins_job_events (job_id, id);
CREATE TABLE customers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    first_name TEXT NOT NULL CHECK (length(first_name) <= 100),
    last_name  TEXT NOT NULL CHECK (length(last_name) <= 100),
    address    TEXT NOT NULL CHECK (length(address) <= 255),
    email      TEXT NOT NULL CHECK (length(email) <= 254),
    age        INTEGER NOT NULL,
    company    TEXT NOT NULL CHECK (length(company) <= 100),
    created_at TEXT NOT NULL,
    job_id     TEXT
);
CREATE INDEX customers_created_at_id ON customers (created_at, id);
CREATE INDEX customers_job_id ON customers (job_id) WHERE job_id IS NOT NULL;
