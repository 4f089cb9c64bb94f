-- Deals whose tasks are recorded a page at a time, as they are run: a deal of a million
-- tasks costs the scheduler a page of rows (and the pool no gas) until its tasks run.
-- `next_offset` is the offset in the deal of the first task not recorded yet.
CREATE TABLE IF NOT EXISTS deal_pages (
    deal_id TEXT PRIMARY KEY, workerpool TEXT NOT NULL, framework TEXT NOT NULL,
    bot_first BIGINT NOT NULL, bot_size BIGINT NOT NULL, next_offset BIGINT NOT NULL,
    wanted BIGINT NOT NULL, initial_status TEXT NOT NULL, final_deadline BIGINT NOT NULL,
    readers TEXT NOT NULL, created_ms BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_deal ON tasks (deal_id, status);
