-- teams.manager_id references customers (ON DELETE SET NULL) without an index, so every
-- customer deleted (each row of an import's rollback among them) made Postgres scan all of
-- teams for the teams it managed: the rollback of a 1M-row import beside 100k teams read
-- 10^11 rows. Only teams with a manager need an entry.
CREATE INDEX IF NOT EXISTS teams_manager_id ON teams (manager_id) WHERE manager_id IS NOT NULL
