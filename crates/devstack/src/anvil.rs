//! Runs anvil: in the background for `confide dev up` (its state dumped to disk on exit
//! and every few seconds), or tied to a value's lifetime for tests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::DevError;

/// Chain id of the dev chain (anvil's default).
pub const DEV_CHAIN_ID: u64 = 31337;
/// The chain id iExec's DataProtector SDK needs to start (Arbitrum Sepolia's: the SDK
/// takes its default workerpool from a table of Arbitrum's chains only), which iExec's own
/// test stack gives anvil too. `dev up --chain-id 421614` runs the stack as it.
pub const DATAPROTECTOR_CHAIN_ID: u64 = 421_614;
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// True when nothing listens on `127.0.0.1:port`.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A port free right now, for a service started next. It is taken below Linux's ephemeral
/// range (32768–60999): a port the kernel hands out for binding to 0 can be taken by any
/// outgoing connection before the service binds it. Successive calls in a process never
/// repeat a port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7_919);
    loop {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(step < SPAN, "no free port left between {FIRST} and {}", FIRST + SPAN);
        let port = (FIRST + seed.wrapping_add(step.wrapping_mul(7)) % SPAN) as u16;
        if port_is_free(port) {
            return port;
        }
    }
}

/// How to start anvil.
pub struct AnvilOptions<'a> {
    /// The anvil executable, as [`crate::deps::anvil_binary`] finds it.
    pub binary: &'a Path,
    /// The port on 127.0.0.1 to serve JSON-RPC on; it must be free.
    pub port: u16,
    /// Load the chain from this file if it exists and dump it there on exit.
    pub state: Option<&'a Path>,
    /// The file anvil's output goes to, emptied first.
    pub log: &'a Path,
    /// The chain id the node reports ([`DEV_CHAIN_ID`] unless a peer needs another).
    pub chain_id: u64,
}

/// A running anvil. Dropping it kills the node unless [`AnvilNode::detach`] was called.
pub struct AnvilNode {
    child: Option<Child>,
    /// The node's process id.
    pub pid: u32,
    /// Its JSON-RPC URL, `http://127.0.0.1:<port>`.
    pub url: String,
    /// The file its output goes to.
    pub log: PathBuf,
}

impl AnvilNode {
    /// Starts anvil and waits until it answers JSON-RPC.
    pub async fn start(options: AnvilOptions<'_>) -> Result<AnvilNode, DevError> {
        if !port_is_free(options.port) {
            return Err(DevError::PortBusy {
                port: options.port,
                flag: "--port",
            });
        }
        if !options.binary.exists() {
            return Err(DevError::AnvilMissing(options.binary.to_owned()));
        }
        let log = std::fs::File::create(options.log).map_err(|e| DevError::io(options.log, e))?;
        let log_err = log.try_clone().map_err(|e| DevError::io(options.log, e))?;
        let mut command = Command::new(options.binary);
        command
            .args(["--host", "127.0.0.1", "--port", &options.port.to_string()])
            .args(["--chain-id", &options.chain_id.to_string()])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if let Some(state) = options.state {
            // Dumped on SIGTERM; the interval also covers a node killed without warning.
            command.arg("--state").arg(state).args(["--state-interval", "2"]);
        }
        // Its own process group: a Ctrl-C in the terminal that ran `dev up` must not reach it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().map_err(|e| DevError::io(options.binary, e))?;
        let mut node = AnvilNode {
            pid: child.id(),
            child: Some(child),
            url: format!("http://127.0.0.1:{}", options.port),
            log: options.log.to_owned(),
        };
        node.wait_ready().await?;
        Ok(node)
    }

    async fn wait_ready(&mut self) -> Result<(), DevError> {
        let started = Instant::now();
        loop {
            // Checked before asking the port: if another process took it between the
            // check and anvil's bind, anvil exits, and whatever answers there is not ours.
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(DevError::AnvilExited {
                    url: self.url.clone(),
                    status: status.to_string(),
                    log: self.log.clone(),
                });
            }
            if confide_chain::Connection::connect(&self.url, None).await.is_ok() {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(DevError::AnvilNotReady {
                    url: self.url.clone(),
                    seconds: READY_TIMEOUT.as_secs(),
                    log: self.log.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Leaves the node running after this value is dropped.
    pub fn detach(mut self) -> u32 {
        self.child.take();
        self.pid
    }
}

impl Drop for AnvilNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// True when a process with this pid exists.
pub fn is_alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid exists and we may signal it.
    let exists = unsafe { libc::kill(pid as libc::pid_t, 0) == 0 };
    // A service whose parent (`dev up`) exited is reaped by init; where init does not reap,
    // it lingers as a zombie, which has stopped all the same.
    exists && !is_zombie(pid)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after_name = stat.rsplit_once(')')?.1;
            after_name.split_whitespace().next().map(|state| state == "Z")
        })
        .unwrap_or(false)
}

/// Asks the process to stop (SIGTERM, so anvil dumps its state) and waits until it is gone.
pub fn terminate(pid: u32, timeout: Duration) -> bool {
    // SAFETY: sending SIGTERM to a pid has no memory-safety implications.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let started = Instant::now();
    while started.elapsed() < timeout {
        if !is_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: as above, SIGKILL as a last resort.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    false
}
