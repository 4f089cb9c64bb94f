//! A throwaway S3-compatible server for tests of the store's S3 backend: moto's server
//! (PyPI `moto[server]`, pinned in `scripts/test.sh`, which installs it into a virtualenv
//! under the cache), on a free loopback port, with one empty bucket; stopped when dropped.
//! moto speaks the S3 REST API (multipart uploads, conditional gets, listing) in one
//! process, which is all the store needs, and installs from PyPI alone.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The pinned moto release (`scripts/test.sh` installs it).
pub const MOTO_VERSION: &str = "5.2.5";

/// A running moto server and the bucket made on it; the server is killed when dropped.
pub struct TempS3 {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The bucket's name, as given to [`TempS3::start`].
    pub bucket: String,
}

/// Where `scripts/test.sh` installs moto's server.
pub fn moto_server() -> PathBuf {
    match std::env::var_os("CONFIDE_MOTO_SERVER") {
        Some(path) => PathBuf::from(path),
        None => confide_devstack::deps::cache_dir().join(format!("moto-{MOTO_VERSION}/bin/moto_server")),
    }
}

impl TempS3 {
    /// Starts a server with one empty bucket named `bucket`.
    ///
    /// # Panics
    /// When moto is not installed or does not start: this is for tests.
    pub fn start(bucket: &str) -> TempS3 {
        let server = moto_server();
        assert!(
            server.exists(),
            "moto's S3 server is missing at {}: run scripts/test.sh (it installs moto[server]=={MOTO_VERSION})",
            server.display()
        );
        let port = confide_devstack::anvil::free_port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        let s3 = TempS3 {
            child,
            endpoint,
            bucket: bucket.to_owned(),
        };
        s3.create_bucket();
        s3
    }

    /// Creates the bucket (an unsigned `PUT /<bucket>`, which moto accepts), waiting for
    /// the server to answer.
    fn create_bucket(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let address = self.endpoint.trim_start_matches("http://").to_owned();
        loop {
            let request = format!(
                "PUT /{} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.bucket
            );
            let answer = std::net::TcpStream::connect(&address).and_then(|mut stream| {
                use std::io::{Read, Write};
                stream.write_all(request.as_bytes())?;
                let mut text = String::new();
                stream.read_to_string(&mut text)?;
                Ok(text)
            });
            match answer {
                Ok(text) if text.starts_with("HTTP/1.1 200") => return,
                Ok(text) => panic!("moto refused the bucket: {}", text.lines().next().unwrap_or_default()),
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => panic!("moto did not start on {}: {e}", self.endpoint),
            }
        }
    }

    /// The environment a store needs to use the bucket (`--store s3://<bucket>/…`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "confide-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "confide-test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

impl Drop for TempS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
