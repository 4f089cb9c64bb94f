-- The order book: every published order, as its owner signed it, with the columns the
-- book is filtered and sorted by.
CREATE TABLE IF NOT EXISTS orders (
    hash TEXT PRIMARY KEY, kind TEXT NOT NULL, chain_id BIGINT NOT NULL, subject TEXT NOT NULL,
    signer TEXT NOT NULL, price BIGINT NOT NULL, tag_bits BIGINT NOT NULL, category BIGINT NOT NULL,
    volume BIGINT NOT NULL, remaining BIGINT NOT NULL, status TEXT NOT NULL,
    app TEXT NOT NULL, dataset TEXT NOT NULL, workerpool TEXT NOT NULL, requester TEXT NOT NULL,
    order_json TEXT NOT NULL, published_ms BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_book ON orders (kind, status, price, published_ms, hash);
-- One asset's book in price order without a sort (also serves `open_of`).
CREATE INDEX IF NOT EXISTS orders_subject_book ON orders (kind, subject, status, price, published_ms, hash);
-- Replaced by orders_subject_book in databases made before it.
DROP INDEX IF EXISTS orders_subject;
-- The follower's last block.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
-- Deals and tasks as the chain last said, for the explorer pages: written by the
-- follower from events, re-read from the chain on every event (so replays and reorgs
-- leave them as the chain is), never from anything a client sends.
CREATE TABLE IF NOT EXISTS deals (
    deal_id TEXT PRIMARY KEY, app TEXT NOT NULL, dataset TEXT NOT NULL, workerpool TEXT NOT NULL,
    requester TEXT NOT NULL, beneficiary TEXT NOT NULL, tag_bits BIGINT NOT NULL, category BIGINT NOT NULL,
    bot_size BIGINT NOT NULL, start_time BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS deals_by_start ON deals (start_time, deal_id);
-- An asset's or an account's deals, without a scan of them all.
CREATE INDEX IF NOT EXISTS deals_of_app ON deals (app, start_time);
CREATE INDEX IF NOT EXISTS deals_of_dataset ON deals (dataset, start_time);
CREATE INDEX IF NOT EXISTS deals_of_workerpool ON deals (workerpool, start_time);
CREATE INDEX IF NOT EXISTS deals_of_requester ON deals (requester, start_time);
CREATE INDEX IF NOT EXISTS deals_of_beneficiary ON deals (beneficiary, start_time);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, deal_id TEXT NOT NULL, workerpool TEXT NOT NULL, status TEXT NOT NULL,
    final_deadline BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_of_workerpool ON tasks (workerpool, status);
-- The login key every replica derives challenges under (see `login`).
CREATE TABLE IF NOT EXISTS market_keys (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Jobs one replica does at a time (following the chain): confide_db::lease.
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_ms BIGINT NOT NULL);
