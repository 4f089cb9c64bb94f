-- Secrets written at least once with Confide's versioned update (bound to this chain and
-- hub), recorded for the audit. iExec's unversioned update stays accepted: its SDKs
-- (DataProtector's bulk processing among them) send nothing else.
CREATE TABLE IF NOT EXISTS versioned_secrets (
    kind TEXT NOT NULL, subject TEXT NOT NULL, name TEXT NOT NULL,
    PRIMARY KEY (kind, subject, name));
