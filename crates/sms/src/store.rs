//! Secrets at rest: SQLite (default) or Postgres through sqlx, every value sealed with
//! AES-256-GCM under a master key kept in a 0600 file. The row's identity is the AEAD's
//! associated data, so a sealed value moved to another row does not open.

use std::path::Path;

use confide_chain::{Address, B256};
pub use confide_protocol::sms::KeyRelease;
use serde::Serialize;
use sqlx::AnyPool;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::SmsError;
use crate::sealing::MasterKey;
pub use crate::sealing::MasterKeySource;

/// The four kinds of secrets iExec's SMS keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretKind {
    /// A dataset key; the subject is the dataset, its owner pushes it.
    Web3,
    /// A named secret of an address (the beneficiary's result key is one).
    Web2,
    /// The app developer's secret; the subject is the app.
    App,
    /// A named secret of a requester.
    Requester,
}

impl SecretKind {
    /// Its word in the database and the audit log: `web3`, `web2`, `app` or `requester`.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::Web3 => "web3",
            SecretKind::Web2 => "web2",
            SecretKind::App => "app",
            SecretKind::Requester => "requester",
        }
    }
}

/// Which secret: kind, subject address and name (empty for web3, `"1"` for apps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretId {
    /// Which of the four kinds of secret it is.
    pub kind: SecretKind,
    /// The address it belongs to: the dataset, the web2 owner, the app or the requester.
    pub subject: Address,
    /// The secret's name: empty for a dataset key, `"1"` for an app's secret, else the
    /// name its owner chose.
    pub name: String,
}

impl SecretId {
    /// The same secret as clients name it, and sign it.
    pub fn as_secret(&self) -> confide_protocol::sms::Secret {
        use confide_protocol::sms::Secret;
        match self.kind {
            SecretKind::Web3 => Secret::Dataset(self.subject),
            SecretKind::Web2 => Secret::Web2 {
                owner: self.subject,
                name: self.name.clone(),
            },
            SecretKind::App => Secret::App(self.subject),
            SecretKind::Requester => Secret::Requester {
                requester: self.subject,
                name: self.name.clone(),
            },
        }
    }

    fn subject_text(&self) -> String {
        self.subject.to_string().to_lowercase()
    }

    /// Binds a sealed value to its row.
    fn associated_data(&self, version: u64) -> Vec<u8> {
        format!("{}|{}|{}|{version}", self.kind.as_str(), self.subject_text(), self.name).into_bytes()
    }
}

fn storage(error: sqlx::Error) -> SmsError {
    SmsError::Storage(error.to_string())
}

/// A line of [`SecretStore::audit`], before its time, actor and outcome.
pub struct AuditLine {
    /// What was done: `push`, `rotate` or `release` of a secret, `challenge` or `session` of a task.
    pub action: &'static str,
    /// The secret's kind (see [`SecretKind::as_str`]), or `task`.
    pub kind: &'static str,
    /// The secret's subject address, lower-case, or the task id.
    pub subject: String,
    /// The secret's name (empty for a dataset key and for a task).
    pub name: String,
    /// The secret's version concerned; 0 for a task or a refused push.
    pub version: u64,
}

impl AuditLine {
    /// About a secret: pushed, rotated, released.
    pub fn secret(action: &'static str, id: &SecretId, version: u64) -> AuditLine {
        AuditLine {
            action,
            kind: id.kind.as_str(),
            subject: id.subject_text(),
            name: id.name.clone(),
            version,
        }
    }

    /// About a task: its challenge created, a session released or refused.
    pub fn task(action: &'static str, task_id: B256) -> AuditLine {
        AuditLine {
            action,
            kind: "task",
            subject: task_id.to_string(),
            name: String::new(),
            version: 0,
        }
    }
}

/// One line of the audit log.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// When it was written, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// What was done: `push`, `rotate`, `release`, `challenge` or `session`.
    pub action: String,
    /// The secret's kind, or `task`.
    pub kind: String,
    /// The secret's subject address, lower-case, or the task id.
    pub subject: String,
    /// The secret's name (empty for a dataset key and for a task).
    pub name: String,
    /// The secret's version concerned; 0 for a task or a refused push.
    pub version: i64,
    /// Who acted, lower-case: the signer of a push, the workerpool owner for a challenge,
    /// the worker for a session; empty when unknown (a refused push).
    pub actor: String,
    /// How it ended: `stored`, `created`, `released to task …`, or a refusal's code.
    pub outcome: String,
}

/// The secrets, enclave-challenge keys, session nonces and audit log at rest, with the
/// master key that seals every value.
pub struct SecretStore {
    pool: AnyPool,
    master: MasterKey,
}

/// The SMS's schema, `migrations/` applied in order.
const MIGRATIONS: &[confide_db::Migration] = &[
    confide_db::Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    confide_db::Migration {
        version: 2,
        name: "key_releases",
        sql: include_str!("../migrations/0002_key_releases.sql"),
    },
    confide_db::Migration {
        version: 3,
        name: "versioned_secrets",
        sql: include_str!("../migrations/0003_versioned_secrets.sql"),
    },
];

/// The most lines of a usage ledger one answer holds, newest first.
pub const MAX_KEY_RELEASES: i64 = 500;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl SecretStore {
    /// Opens (creating if needed) the database at `database_url` (`sqlite://…` or
    /// `postgres://…`) with the master key at `master_key_path`.
    pub async fn open(database_url: &str, master_key_path: &Path) -> Result<SecretStore, SmsError> {
        SecretStore::open_with(database_url, MasterKeySource::File(master_key_path)).await
    }

    /// Opens the database with the master key from `source`. Refuses a key other than the
    /// one the database's secrets are sealed under (`MASTER_KEY_MISMATCH`): a replica
    /// started with the wrong key would seal secrets the others cannot open.
    pub async fn open_with(database_url: &str, source: MasterKeySource<'_>) -> Result<SecretStore, SmsError> {
        let master = match source {
            MasterKeySource::File(path) => MasterKey::load_or_create(path)?,
            MasterKeySource::Bytes(key) => MasterKey::from_bytes(key.as_slice()),
        };
        // WAL (see confide_db::open): the rollback journal took several fsyncs per
        // commit, 5x slower releases.
        let pool = confide_db::open(database_url, "sms", MIGRATIONS)
            .await
            .map_err(storage)?;
        let store = SecretStore { pool, master };
        store.check_master_key().await?;
        Ok(store)
    }

    /// Records the master key's id on first use, then refuses any other key.
    async fn check_master_key(&self) -> Result<(), SmsError> {
        let ours = self.master.id.clone();
        // A database from before the record: its sealed rows name their key.
        let sealed_under = sqlx::query("SELECT key_id FROM secrets UNION SELECT key_id FROM challenges LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?
            .map(|row| row.get::<String, _>(0));
        let first = sealed_under.unwrap_or_else(|| ours.clone());
        sqlx::query("INSERT INTO sms_meta (name, value) VALUES ('master_key_id', $1) ON CONFLICT DO NOTHING")
            .bind(&first)
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        let recorded: String = sqlx::query("SELECT value FROM sms_meta WHERE name = 'master_key_id'")
            .fetch_one(&self.pool)
            .await
            .map_err(storage)?
            .get(0);
        if recorded != ours {
            return Err(SmsError::MasterKeyMismatch {
                database: recorded,
                ours,
            });
        }
        Ok(())
    }

    /// The newest version of a secret, if any.
    pub async fn latest_version(&self, id: &SecretId) -> Result<Option<u64>, SmsError> {
        let row = sqlx::query("SELECT MAX(version) AS v FROM secrets WHERE kind = $1 AND subject = $2 AND name = $3")
            .bind(id.kind.as_str())
            .bind(id.subject_text())
            .bind(&id.name)
            .fetch_one(&self.pool)
            .await
            .map_err(storage)?;
        let version: Option<i64> = row.try_get("v").map_err(storage)?;
        Ok(version.map(|v| v as u64))
    }

    /// Stores `value` as `version` of the secret and burns `signature`, atomically: a
    /// version that exists is refused ([`SmsError::AlreadyExists`]), and so is a signature
    /// used before ([`SmsError::ReplayedSignature`]); nothing is stored then. A `versioned`
    /// write (Confide's update) is recorded as such (`versioned_secrets`), for the audit:
    /// iExec's unversioned update stays accepted, as its SDKs send nothing else.
    pub async fn insert(
        &self,
        id: &SecretId,
        version: u64,
        value: &[u8],
        signature: &str,
        versioned: bool,
    ) -> Result<(), SmsError> {
        let (nonce, sealed) = self.master.seal(&id.associated_data(version), value)?;
        let mut tx = self.pool.begin().await.map_err(storage)?;
        let inserted = sqlx::query(
            "INSERT INTO secrets (kind, subject, name, version, key_id, nonce, sealed, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(id.kind.as_str())
        .bind(id.subject_text())
        .bind(&id.name)
        .bind(version as i64)
        .bind(&self.master.id)
        .bind(nonce)
        .bind(sealed)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        if inserted.rows_affected() == 0 {
            return Err(SmsError::AlreadyExists);
        }
        let fresh =
            sqlx::query("INSERT INTO used_signatures (signature, used_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(signature.to_lowercase())
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(storage)?;
        if fresh.rows_affected() == 0 {
            return Err(SmsError::ReplayedSignature);
        }
        if versioned {
            sqlx::query(
                "INSERT INTO versioned_secrets (kind, subject, name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(id.kind.as_str())
            .bind(id.subject_text())
            .bind(&id.name)
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        }
        tx.commit().await.map_err(storage)
    }

    /// The newest version and its value, opened. For the attested enclave only.
    pub async fn read_latest(&self, id: &SecretId) -> Result<Option<(u64, Zeroizing<Vec<u8>>)>, SmsError> {
        let row = sqlx::query(
            "SELECT version, key_id, nonce, sealed FROM secrets WHERE kind = $1 AND subject = $2 AND name = $3
             ORDER BY version DESC LIMIT 1",
        )
        .bind(id.kind.as_str())
        .bind(id.subject_text())
        .bind(&id.name)
        .fetch_optional(&self.pool)
        .await
        .map_err(storage)?;
        let Some(row) = row else { return Ok(None) };
        let version: i64 = row.try_get("version").map_err(storage)?;
        let column = |name: &str| row.try_get::<String, _>(name).map_err(storage);
        let aad = id.associated_data(version as u64);
        let value = self
            .master
            .open(&aad, &column("key_id")?, &column("nonce")?, &column("sealed")?)?;
        Ok(Some((version as u64, value)))
    }

    /// Appends to the audit log, the lines together in one statement (a session's releases
    /// and its outcome: one commit). Values never go there.
    pub async fn audit(&self, lines: &[AuditLine], actor: Option<Address>, outcome: &str) {
        if lines.is_empty() {
            return;
        }
        let rows = (0..lines.len())
            .map(|row| {
                let placeholders: Vec<String> = (1..=8).map(|column| format!("${}", row * 8 + column)).collect();
                format!("({})", placeholders.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql =
            format!("INSERT INTO audit (at_ms, action, kind, subject, name, version, actor, outcome) VALUES {rows}");
        let (at, actor) = (
            now_ms(),
            actor.map(|a| a.to_string().to_lowercase()).unwrap_or_default(),
        );
        let mut query = sqlx::query(&sql);
        for line in lines {
            query = query
                .bind(at)
                .bind(line.action)
                .bind(line.kind)
                .bind(&line.subject)
                .bind(&line.name)
                .bind(line.version as i64)
                .bind(&actor)
                .bind(outcome);
        }
        if let Err(error) = query.execute(&self.pool).await {
            tracing::error!(%error, "audit log write failed");
        }
    }

    /// The task's enclave-challenge key, created on first call: every later call (and a
    /// concurrent one) gets the same key. `final_deadline` (Unix seconds) is when it may go.
    pub async fn challenge(
        &self,
        task_id: B256,
        final_deadline: u64,
    ) -> Result<(Address, Zeroizing<[u8; 32]>), SmsError> {
        if let Some(existing) = self.existing_challenge(task_id).await? {
            return Ok(existing);
        }
        let signer = confide_chain::PrivateKeySigner::random();
        let key = Zeroizing::new(<[u8; 32]>::from(signer.to_bytes()));
        let task = task_id.to_string();
        let (nonce, sealed) = self
            .master
            .seal(format!("challenge|{task}").as_bytes(), key.as_slice())?;
        sqlx::query(
            "INSERT INTO challenges (task_id, address, key_id, nonce, sealed, final_deadline, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&task)
        .bind(signer.address().to_string())
        .bind(&self.master.id)
        .bind(nonce)
        .bind(sealed)
        .bind(final_deadline as i64)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        self.existing_challenge(task_id)
            .await?
            .ok_or_else(|| SmsError::Storage("the challenge vanished after creation".into()))
    }

    /// The task's challenge address and key, if one was made.
    pub async fn existing_challenge(&self, task_id: B256) -> Result<Option<(Address, Zeroizing<[u8; 32]>)>, SmsError> {
        let task = task_id.to_string();
        let row = sqlx::query("SELECT address, key_id, nonce, sealed FROM challenges WHERE task_id = $1")
            .bind(&task)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        let Some(row) = row else { return Ok(None) };
        let address: String = row.try_get("address").map_err(storage)?;
        let address: Address = address
            .parse()
            .map_err(|_| SmsError::Storage("corrupt challenge address".into()))?;
        let key = self.master.open(
            format!("challenge|{task}").as_bytes(),
            &row.try_get::<String, _>("key_id").map_err(storage)?,
            &row.try_get::<String, _>("nonce").map_err(storage)?,
            &row.try_get::<String, _>("sealed").map_err(storage)?,
        )?;
        let key: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| SmsError::Storage("corrupt challenge key".into()))?;
        Ok(Some((address, Zeroizing::new(key))))
    }

    /// Deletes the challenge keys of tasks whose final deadline is before `now_secs`:
    /// past it PoCo accepts no contribution, so the key can sign nothing useful.
    pub async fn delete_expired_challenges(&self, now_secs: u64) -> Result<u64, SmsError> {
        let deleted = sqlx::query("DELETE FROM challenges WHERE final_deadline < $1")
            .bind(now_secs as i64)
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        Ok(deleted.rows_affected())
    }

    /// A fresh single-use session nonce, valid for `ttl`.
    pub async fn issue_nonce(&self, ttl: std::time::Duration) -> Result<B256, SmsError> {
        let nonce = B256::random();
        let now = now_ms();
        sqlx::query("INSERT INTO session_nonces (nonce, expires_ms) VALUES ($1, $2)")
            .bind(nonce.to_string())
            .bind(now + ttl.as_millis() as i64)
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        Ok(nonce)
    }

    /// Deletes the nonces past their expiry (which no session can use any more); how many.
    pub async fn delete_expired_nonces(&self) -> Result<u64, SmsError> {
        let deleted = sqlx::query("DELETE FROM session_nonces WHERE expires_ms < $1")
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        Ok(deleted.rows_affected())
    }

    /// Burns `nonce`: true only the first time, and only before it expires.
    pub async fn consume_nonce(&self, nonce: B256) -> Result<bool, SmsError> {
        let deleted = sqlx::query("DELETE FROM session_nonces WHERE nonce = $1 AND expires_ms >= $2")
            .bind(nonce.to_string())
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        Ok(deleted.rows_affected() == 1)
    }

    /// Records a release of `dataset`'s key (the usage ledger its owner reads).
    pub async fn record_key_release(&self, dataset: Address, release: &KeyRelease) -> Result<(), SmsError> {
        sqlx::query(
            "INSERT INTO key_releases (dataset, at_ms, task_id, deal_id, app, requester, worker, evidence, measurements, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(dataset.to_string().to_lowercase())
        .bind(release.at_ms)
        .bind(release.task_id.to_string())
        .bind(release.deal_id.to_string())
        .bind(release.app.to_string())
        .bind(release.requester.to_string())
        .bind(release.worker.to_string())
        .bind(release.evidence.clone())
        .bind(release.measurements.to_string())
        .bind(i64::try_from(release.version).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(())
    }

    /// The releases of `dataset`'s key, newest first, at most [`MAX_KEY_RELEASES`].
    pub async fn key_releases(&self, dataset: Address) -> Result<Vec<KeyRelease>, SmsError> {
        let rows = sqlx::query(
            "SELECT at_ms, task_id, deal_id, app, requester, worker, evidence, measurements, version
             FROM key_releases WHERE dataset = $1 ORDER BY at_ms DESC LIMIT $2",
        )
        .bind(dataset.to_string().to_lowercase())
        .bind(MAX_KEY_RELEASES)
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.iter().map(key_release_of).collect()
    }

    /// The whole audit log, oldest line first (it never holds a value).
    pub async fn audit_log(&self) -> Result<Vec<AuditEntry>, SmsError> {
        let rows =
            sqlx::query("SELECT at_ms, action, kind, subject, name, version, actor, outcome FROM audit ORDER BY at_ms")
                .fetch_all(&self.pool)
                .await
                .map_err(storage)?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    at_ms: row.try_get("at_ms").map_err(storage)?,
                    action: row.try_get("action").map_err(storage)?,
                    kind: row.try_get("kind").map_err(storage)?,
                    subject: row.try_get("subject").map_err(storage)?,
                    name: row.try_get("name").map_err(storage)?,
                    version: row.try_get("version").map_err(storage)?,
                    actor: row.try_get("actor").map_err(storage)?,
                    outcome: row.try_get("outcome").map_err(storage)?,
                })
            })
            .collect()
    }
}

fn key_release_of(row: &sqlx::any::AnyRow) -> Result<KeyRelease, SmsError> {
    let text = |name: &str| row.try_get::<String, _>(name).map_err(storage);
    let id = |name: &str| -> Result<B256, SmsError> {
        text(name)?
            .parse()
            .map_err(|_| SmsError::Storage(format!("key_releases.{name} is not an id")))
    };
    let address = |name: &str| -> Result<Address, SmsError> {
        text(name)?
            .parse()
            .map_err(|_| SmsError::Storage(format!("key_releases.{name} is not an address")))
    };
    Ok(KeyRelease {
        at_ms: row.try_get("at_ms").map_err(storage)?,
        task_id: id("task_id")?,
        deal_id: id("deal_id")?,
        app: address("app")?,
        requester: address("requester")?,
        worker: address("worker")?,
        evidence: text("evidence")?,
        measurements: serde_json::from_str(&text("measurements")?).unwrap_or_default(),
        version: u64::try_from(row.try_get::<i64, _>("version").map_err(storage)?).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (SecretStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("sms.db").display());
        (
            SecretStore::open(&url, &dir.path().join("master.key")).await.unwrap(),
            dir,
        )
    }

    #[tokio::test]
    async fn a_task_has_one_challenge_key_until_its_final_deadline() {
        let (store, _dir) = store().await;
        let task = B256::repeat_byte(1);
        let (address, key) = store.challenge(task, 1_000).await.unwrap();
        let (again, same_key) = store.challenge(task, 1_000).await.unwrap();
        assert_eq!((address, key.as_slice()), (again, same_key.as_slice()));
        let signer = confide_chain::PrivateKeySigner::from_bytes(&B256::from(*key)).unwrap();
        assert_eq!(signer.address(), address, "the stored key is the challenge's");
        assert_eq!(store.delete_expired_challenges(999).await.unwrap(), 0);
        assert_eq!(store.delete_expired_challenges(1_001).await.unwrap(), 1);
        assert!(store.existing_challenge(task).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn nonces_are_single_use_and_expire() {
        let (store, _dir) = store().await;
        let nonce = store.issue_nonce(std::time::Duration::from_secs(60)).await.unwrap();
        assert!(store.consume_nonce(nonce).await.unwrap());
        assert!(!store.consume_nonce(nonce).await.unwrap());
        let expired = store.issue_nonce(std::time::Duration::ZERO).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let live = store.issue_nonce(std::time::Duration::from_secs(60)).await.unwrap();
        assert_eq!(
            store.delete_expired_nonces().await.unwrap(),
            1,
            "the sweep takes the expired one"
        );
        assert!(!store.consume_nonce(expired).await.unwrap());
        assert!(store.consume_nonce(live).await.unwrap());
    }

    #[tokio::test]
    async fn a_sessions_audit_lines_are_written_together() {
        let (store, _dir) = store().await;
        let id = SecretId {
            kind: SecretKind::Web3,
            subject: Address::repeat_byte(7),
            name: String::new(),
        };
        let session = AuditLine::task("session", B256::repeat_byte(1));
        let worker = Address::repeat_byte(9);
        store
            .audit(
                &[AuditLine::secret("release", &id, 3), session],
                Some(worker),
                "released",
            )
            .await;
        let log = store.audit_log().await.unwrap();
        let lines: Vec<_> = log
            .iter()
            .map(|e| {
                (
                    e.action.as_str(),
                    e.kind.as_str(),
                    e.subject.as_str(),
                    e.version,
                    e.outcome.as_str(),
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                (
                    "release",
                    "web3",
                    "0x0707070707070707070707070707070707070707",
                    3,
                    "released"
                ),
                (
                    "session",
                    "task",
                    "0x0101010101010101010101010101010101010101010101010101010101010101",
                    0,
                    "released"
                ),
            ]
        );
        assert!(log.iter().all(|e| e.actor == worker.to_string().to_lowercase()));
    }
}
