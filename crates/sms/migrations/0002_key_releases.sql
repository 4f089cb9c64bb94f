-- The usage ledger: each release of a dataset's key to an attested enclave, for its owner.
CREATE TABLE IF NOT EXISTS key_releases (
    dataset TEXT NOT NULL, at_ms BIGINT NOT NULL, task_id TEXT NOT NULL, deal_id TEXT NOT NULL,
    app TEXT NOT NULL, requester TEXT NOT NULL, worker TEXT NOT NULL, evidence TEXT NOT NULL,
    measurements TEXT NOT NULL, version BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS key_releases_by_dataset ON key_releases (dataset, at_ms);
