-- Every version of every secret, sealed under the master key (see sealing.rs).
CREATE TABLE IF NOT EXISTS secrets (
    kind TEXT NOT NULL, subject TEXT NOT NULL, name TEXT NOT NULL, version BIGINT NOT NULL,
    key_id TEXT NOT NULL, nonce TEXT NOT NULL, sealed TEXT NOT NULL, created_ms BIGINT NOT NULL,
    PRIMARY KEY (kind, subject, name, version));
-- Push and rotation signatures, burnt once used.
CREATE TABLE IF NOT EXISTS used_signatures (signature TEXT PRIMARY KEY, used_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    at_ms BIGINT NOT NULL, action TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
    name TEXT NOT NULL, version BIGINT NOT NULL, actor TEXT NOT NULL, outcome TEXT NOT NULL);
-- Each task's enclave challenge key, sealed.
CREATE TABLE IF NOT EXISTS challenges (
    task_id TEXT PRIMARY KEY, address TEXT NOT NULL, key_id TEXT NOT NULL, nonce TEXT NOT NULL,
    sealed TEXT NOT NULL, final_deadline BIGINT NOT NULL, created_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS session_nonces (nonce TEXT PRIMARY KEY, expires_ms BIGINT NOT NULL);
-- The master key's id, so a replica with another key is refused.
CREATE TABLE IF NOT EXISTS sms_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
