-- Protected data: PoCo datasets created through the DataProtector contract, as the
-- follower reads them from its `DatasetSchema` events and the chain (see `protected`).
-- `entries` holds the schema's `path:type` ids, one a line.
CREATE TABLE IF NOT EXISTS protected_data (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL, json_schema TEXT NOT NULL,
    entries TEXT NOT NULL, multiaddr TEXT NOT NULL, checksum TEXT NOT NULL,
    creation_timestamp BIGINT NOT NULL, transaction_hash TEXT NOT NULL, block_number BIGINT NOT NULL);
-- Newest first (iExec's SDK's order), an owner's newest first, by name.
CREATE INDEX IF NOT EXISTS protected_data_by_time ON protected_data (creation_timestamp, id);
CREATE INDEX IF NOT EXISTS protected_data_of_owner ON protected_data (owner, creation_timestamp, id);
CREATE INDEX IF NOT EXISTS protected_data_by_name ON protected_data (name, id);
-- Each schema entry's protected data in creation order: a query for entries reads the
-- rarest one's here, in order, and checks the others by this key.
CREATE TABLE IF NOT EXISTS protected_data_schema (
    entry TEXT NOT NULL, creation_timestamp BIGINT NOT NULL, protected_data TEXT NOT NULL,
    PRIMARY KEY (entry, creation_timestamp, protected_data));
-- How many protected data have each entry, to pick the rarest.
CREATE TABLE IF NOT EXISTS protected_data_schema_counts (entry TEXT PRIMARY KEY, n BIGINT NOT NULL);
-- Deals by the orders they consumed (iExec's `GET /deals?requestorderHash=…`, the PoCo
-- subgraph's `deals(where: {requestorder: …})`) and their first task's index. Deals
-- recorded before this migration have empty hashes.
ALTER TABLE deals ADD COLUMN apporder TEXT NOT NULL DEFAULT '';
ALTER TABLE deals ADD COLUMN datasetorder TEXT NOT NULL DEFAULT '';
ALTER TABLE deals ADD COLUMN workerpoolorder TEXT NOT NULL DEFAULT '';
ALTER TABLE deals ADD COLUMN requestorder TEXT NOT NULL DEFAULT '';
ALTER TABLE deals ADD COLUMN bot_first BIGINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS deals_of_apporder ON deals (apporder);
CREATE INDEX IF NOT EXISTS deals_of_datasetorder ON deals (datasetorder);
CREATE INDEX IF NOT EXISTS deals_of_workerpoolorder ON deals (workerpoolorder);
CREATE INDEX IF NOT EXISTS deals_of_requestorder ON deals (requestorder);
