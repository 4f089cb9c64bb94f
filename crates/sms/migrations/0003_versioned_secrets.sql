-- Secrets written at least once with Confide's versioned update (bound to this chain and
-- hub): iExec's unversioned update, which names neither version nor chain, is refused
-- for them from then on.
CREATE TABLE IF NOT EXISTS versioned_secrets (
    kind TEXT NOT NULL, subject TEXT NOT NULL, name TEXT NOT NULL,
    PRIMARY KEY (kind, subject, name));
