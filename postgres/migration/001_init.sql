CREATE TABLE reins_jobs (
    id          uuid PRIMARY KEY,
    job_type    text NOT NULL,
    status      text NOT NULL,
    owner       text NOT NULL DEFAULT 'default',
    params      jsonb NOT NULL DEFAULT '{}',
    run_epoch   bigint NOT NULL DEFAULT 1,
    done        bigint NOT NULL DEFAULT 0,
    total       bigint,
    active_ms   bigint NOT NULL DEFAULT 0,
    checkpoint  jsonb NOT NULL DEFAULT '{}',
    error       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    started_at  timestamptz,
    finished_at timestamptz
);
CREATE INDEX reins_jobs_owner_created_at ON reins_jobs (owner, created_at DESC);
CREATE TABLE reins_job_events (
    id          bigserial PRIMARY KEY,
    job_id      uuid NOT NULL REFERENCES reins_jobs (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    from_status text NOT NULL,
    to_status   text NOT NULL,
    actor       text NOT NULL,
    detail      text NOT NULL DEFAULT ''
);
CREATE INDEX reins_job_events_job_id ON reins_job_events (job_id, id);
CREATE TABLE customers (
    id         bigserial PRIMARY KEY,
    first_name varchar(100) NOT NULL,
    last_name  varchar(100) NOT NULL,
    address    varchar(255) NOT NULL,
    email      varchar(254) NOT NULL,
    age        integer NOT NULL,
    company    varchar(100) NOT NULL,
    created_at timestamptz NOT NULL,
    job_id     uuid
);
CREATE INDEX customers_created_at_id ON customers (created_at, id);
CREATE INDEX customers_job_id ON customers (job_id) WHERE job_id IS NOT NULL;
