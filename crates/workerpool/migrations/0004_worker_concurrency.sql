-- How many tasks each worker said it runs at once: it is given no more.
ALTER TABLE workers ADD COLUMN concurrency BIGINT NOT NULL DEFAULT 1;
