//! A throwaway PostgreSQL cluster for tests, made as the dev stack makes its own.

use std::process::Command;

use confide_devstack::postgres::{Cluster, SUPERUSER, server_binaries};

/// A throwaway cluster for tests, stopped when dropped.
pub struct TempPostgres {
    /// Keeps the directory alive as long as the server.
    _dir: tempfile::TempDir,
    cluster: Cluster,
    /// `postgres://confide@127.0.0.1:<port>/<database>`.
    pub url: String,
}

impl TempPostgres {
    /// Starts a cluster with one empty database named `database`.
    ///
    /// # Panics
    /// When the server binaries are missing or the cluster does not start: this is for tests.
    pub fn start(database: &str) -> TempPostgres {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let cluster = Cluster {
            dir: dir.path().to_owned(),
            port: confide_devstack::anvil::free_port(),
        };
        cluster.start().unwrap_or_else(|e| panic!("{e}"));
        // A binary, not `ensure_database`: tests call this from inside their runtimes.
        let bin = server_binaries().unwrap_or_else(|e| panic!("{e}"));
        let created = Command::new(bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &cluster.port.to_string(),
                "-U",
                SUPERUSER,
                database,
            ])
            .status()
            .expect("createdb");
        assert!(created.success(), "could not create database {database}");
        let url = cluster.url(database);
        TempPostgres {
            _dir: dir,
            cluster,
            url,
        }
    }

    /// The cluster's server, for another database on it.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        self.cluster.stop();
    }
}
