-- How many workers a task wants (its trust), and who may read its results.
ALTER TABLE tasks ADD COLUMN wanted BIGINT NOT NULL DEFAULT 1;
ALTER TABLE tasks ADD COLUMN readers TEXT NOT NULL DEFAULT '';
