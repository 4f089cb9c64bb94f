-- The tasks of the pool's deals, as the scheduler moves them along. `lease_until_ms` is
-- no longer read (leases are the replicas'); it stays so that databases made before keep
-- accepting new rows.
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, deal_id TEXT NOT NULL, idx BIGINT NOT NULL, workerpool TEXT NOT NULL,
    framework TEXT NOT NULL, status TEXT NOT NULL, challenge TEXT NOT NULL, worker TEXT NOT NULL,
    lease_until_ms BIGINT NOT NULL, attempts BIGINT NOT NULL, final_deadline BIGINT NOT NULL,
    not_before_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL, results TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status, updated_ms);
CREATE TABLE IF NOT EXISTS workers (address TEXT PRIMARY KEY, frameworks TEXT NOT NULL, memory_mib BIGINT NOT NULL, last_seen_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS task_log (task_id TEXT NOT NULL, at_ms BIGINT NOT NULL, party TEXT NOT NULL, message TEXT NOT NULL);
-- The follower's last block.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
-- Each worker's hold on a task (several for a task that asks for trust).
CREATE TABLE IF NOT EXISTS replicas (task_id TEXT NOT NULL, worker TEXT NOT NULL, status TEXT NOT NULL,
    lease_until_ms BIGINT NOT NULL, results TEXT NOT NULL, updated_ms BIGINT NOT NULL,
    PRIMARY KEY (task_id, worker));
-- One active scheduler per workerpool among those sharing this database: confide_db::lease.
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_ms BIGINT NOT NULL);
