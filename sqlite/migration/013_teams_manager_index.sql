-- See postgres/migration/013_teams_manager_index.sql: SQLite, which enforces the foreign key
-- (PRAGMA foreign_keys), scanned all of teams for each customer deleted.
CREATE INDEX IF NOT EXISTS teams_manager_id ON teams (manager_id) WHERE manager_id IS NOT NULL
