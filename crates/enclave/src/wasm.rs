//! The app sandbox: a WASI preview 1 module under wasmtime, with iExec's app conventions
//! and nothing else. It sees `/iexec_in` (read-only) and `/iexec_out`, its args and env;
//! no network, no other files, no clock-based escape from its wall-time budget (its waits
//! are ours: `clocks`), and a
//! memory cap it cannot grow past. A Python app's interpreter runs in the same sandbox,
//! with its code and standard library mounted read-only (see `python`).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::{Config, Engine, Linker, Module, ResourceLimiter, Store, Trap};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// How much of the app's stdout and stderr is kept (the rest is refused to the app).
const OUTPUT_CAP: usize = 64 << 10;
/// The deepest the app's own stack may grow (CPython recurses deeply: its build expects
/// 8 MiB), and the native stack of the thread that runs it, with room for the host's calls.
const WASM_STACK: usize = 8 << 20;
const RUN_THREAD_STACK: usize = WASM_STACK + (4 << 20);
/// The one host function the Python runtime imports besides WASI (`host::call`, a door
/// to its embedder). Confide's sandbox has no embedder services: every call answers
/// "no host" (-1), as the runtime's own runner does when it is given none.
const DOOR_MODULE: &str = "host";
const DOOR_NAME: &str = "call";
const NO_HOST: i32 = -1;
/// Tables are memory the linear-memory cap does not see: at most this many per run, with
/// at most this many elements between them (a funcref is a pointer: 8 MiB at most).
/// CPython's indirect-call table, the largest a real app has, holds about 10,000.
const MAX_TABLES: usize = 8;
const MAX_TABLE_ELEMENTS: usize = 1 << 20;
/// One module, one memory; a few instances for wasmtime's own bookkeeping.
const MAX_MEMORIES: usize = 1;
const MAX_INSTANCES: usize = 4;
/// How often the writable folders are measured against the write quota while the app runs.
const QUOTA_CHECK_EVERY: Duration = Duration::from_millis(50);

/// Why the sandbox could not run the app, or how the app failed in it; each has a stable
/// code.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    /// The module does not compile: it is not WebAssembly, or uses a feature the engine
    /// does not enable.
    #[error("the app module is not valid WebAssembly: {0}")]
    Compile(String),
    /// The sandbox could not be set up (the engine, the linker, its folders, the app's
    /// thread): the runtime's fault, not the app's.
    #[error("the app cannot start: {0}")]
    Setup(String),
    /// The app trapped (a panic, an unreachable, an invalid memory access); its text, a
    /// backtrace, is kept out of the public message.
    #[error("the app trapped: {0}")]
    Trap(String),
    /// The app was still running when its wall-time budget ended, and was interrupted.
    #[error("the app ran out of its {seconds} s wall-time budget")]
    Timeout {
        /// The budget, in seconds.
        seconds: u64,
    },
    /// The app tried to grow its memory past its cap.
    #[error("the app tried to use more than its {limit_mib} MiB of memory")]
    OutOfMemory {
        /// The cap, in MiB.
        limit_mib: u64,
    },
    /// The app exited with a non-zero status; the status is kept out of the public message.
    #[error("the app exited with status {0}")]
    Exit(i32),
    /// The module imports functions the sandbox does not provide (it gives WASI preview 1
    /// and the Python runtime's `host::call`, nothing else).
    #[error("the app needs imports the sandbox does not provide: {0}")]
    Imports(String),
    /// The app wrote more than its write quota into its writable folders, and was stopped.
    #[error(
        "the app wrote more than its quota of {} MiB or {} files and folders",
        quota.max_bytes >> 20,
        quota.max_entries
    )]
    WriteQuota {
        /// The quota it went past.
        quota: WriteQuota,
    },
}

/// What an app may leave in `/iexec_out` and its writable mounts together: bytes by
/// apparent size (a sparse file counts whole, as the archive and the wipe read it whole),
/// and files and folders. Measured while the app runs and once after: an app is stopped
/// within 50 ms of going past it, and its result refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteQuota {
    /// Bytes, every writable folder together.
    pub max_bytes: u64,
    /// Files, folders and links, every writable folder together.
    pub max_entries: u64,
}

impl WriteQuota {
    /// 1 GiB and 10,000 entries: a result is an archive the beneficiary downloads, not a disk.
    pub const DEFAULT: WriteQuota = WriteQuota {
        max_bytes: 1 << 30,
        max_entries: 10_000,
    };

    /// Whether everything under `folders` fits; stops reading as soon as it does not, so
    /// the walk is bounded by the quota, not by what the app made.
    pub fn holds(&self, folders: &[PathBuf]) -> bool {
        let (mut bytes, mut entries) = (unlinked_open_bytes(), 0u64);
        if bytes > self.max_bytes {
            return false;
        }
        let mut pending: Vec<PathBuf> = folders.to_vec();
        while let Some(folder) = pending.pop() {
            let Ok(listing) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in listing.flatten() {
                entries += 1;
                // Links are not followed: a link is one entry, whatever it points at.
                let Ok(metadata) = std::fs::symlink_metadata(entry.path()) else {
                    continue;
                };
                if metadata.is_dir() {
                    pending.push(entry.path());
                } else {
                    bytes = bytes.saturating_add(metadata.len());
                }
                if entries > self.max_entries || bytes > self.max_bytes {
                    return false;
                }
            }
        }
        true
    }
}

/// Bytes of the files this process holds open that no folder names any more: an app that
/// removes a file and keeps writing through its descriptor fills the disk all the same.
/// (The runtime runs one task per process and keeps no such file of its own while the app
/// runs.) Where `/proc` is not mounted, none are seen.
fn unlinked_open_bytes() -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(descriptors) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    descriptors
        .flatten()
        .filter_map(|fd| std::fs::metadata(fd.path()).ok())
        .filter(|file| file.is_file() && file.nlink() == 0)
        .map(|file| file.len())
        .fold(0u64, u64::saturating_add)
}

impl WasmError {
    /// The stable code the worker reports (`APP_…`).
    pub fn code(&self) -> &'static str {
        match self {
            WasmError::Compile(_) => "APP_INVALID_MODULE",
            WasmError::Setup(_) => "APP_SETUP_FAILED",
            WasmError::Trap(_) => "APP_TRAPPED",
            WasmError::Timeout { .. } => "APP_TIMEOUT",
            WasmError::OutOfMemory { .. } => "APP_OUT_OF_MEMORY",
            WasmError::Exit(_) => "APP_EXIT_NONZERO",
            WasmError::Imports(_) => "APP_IMPORTS_UNSUPPORTED",
            WasmError::WriteQuota { .. } => "APP_WRITE_QUOTA",
        }
    }

    /// The sentence that may leave the enclave. A trap's text (a backtrace naming the
    /// app's functions) and an exit status are the app's choice, so neither is in it: an
    /// app would use them to send bytes of what it read past the result's encryption.
    pub fn public_message(&self) -> String {
        match self {
            WasmError::Trap(_) => "the app trapped (a panic, an unreachable or an invalid memory access)".into(),
            WasmError::Exit(_) => "the app exited with a non-zero status".into(),
            WasmError::Compile(_)
            | WasmError::Setup(_)
            | WasmError::Timeout { .. }
            | WasmError::OutOfMemory { .. }
            | WasmError::Imports(_)
            | WasmError::WriteQuota { .. } => self.to_string(),
        }
    }
}

/// One engine per runtime process: compilation settings are fixed here, so cached
/// modules are only reused by an identical engine.
pub struct Sandbox {
    engine: Engine,
    write_quota: WriteQuota,
}

/// What the app is given.
pub struct AppInvocation<'a> {
    /// The app's argv, its program name first.
    pub args: Vec<String>,
    /// Its environment: iExec's `IEXEC_*` variables, secrets included.
    pub env: Vec<(String, String)>,
    /// The host folder the app sees, read-only, at `/iexec_in`.
    pub input_dir: &'a Path,
    /// The host folder the app sees, writable, at `/iexec_out`.
    pub output_dir: &'a Path,
    /// The cap on the app's linear memory, in bytes.
    pub memory_limit: u64,
    /// The wall-time budget; past it the app is interrupted (`APP_TIMEOUT`).
    pub max_run: Duration,
    /// How the module is started.
    pub entry: Entry,
    /// More folders, each read-only unless it says otherwise (a Python app's code and
    /// standard library, its scratch `/tmp`).
    pub mounts: Vec<Mount<'a>>,
}

/// How a module is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A command: `_start`, which ends by returning or by `proc_exit`.
    Command,
    /// A reactor (the Python runtime): `_initialize`, then `run`, whose result is the
    /// exit status.
    Reactor,
}

/// A host folder the app sees at `guest`.
pub struct Mount<'a> {
    /// The folder on the host, in the task's private area.
    pub host: &'a Path,
    /// The absolute path the app sees it at.
    pub guest: String,
    /// Whether the app may write into it.
    pub writable: bool,
}

/// The app's captured output (kept inside the enclave; see `task`).
pub struct AppOutput {
    /// What the app wrote to its stdout, at most 64 KiB.
    pub stdout: Vec<u8>,
    /// What the app wrote to its stderr, at most 64 KiB.
    pub stderr: Vec<u8>,
}

struct Host {
    wasi: WasiP1Ctx,
    limiter: MemoryCap,
    clock: crate::clocks::RunClock,
}

/// The app's memory: its linear memory under the cap, its tables under theirs. `hit`
/// records a refusal, which is how an app that turns it into its own error is judged.
struct MemoryCap {
    max: usize,
    table_elements: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    /// Called for a table's initial size at instantiation too (from 0), so every element
    /// of every table is counted.
    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.table_elements.saturating_add(desired.saturating_sub(current));
        if total > MAX_TABLE_ELEMENTS {
            self.hit = true;
            return Ok(false);
        }
        self.table_elements = total;
        Ok(true)
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
}

impl Sandbox {
    /// An engine with the sandbox's settings: epoch interruption, one linear memory, an
    /// 8 MiB wasm stack, wasm exceptions (for the Python runtime).
    pub fn new() -> Result<Sandbox, WasmError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // One linear memory: the memory cap is per memory, so several would multiply it.
        config.wasm_multi_memory(false);
        // wasmtime checks the wasm stack against the async stack even with no async call.
        config.async_stack_size(RUN_THREAD_STACK);
        config.max_wasm_stack(WASM_STACK);
        // The Python runtime's C++ extensions (pybind11) throw wasm exceptions.
        config.wasm_exceptions(true);
        let engine = Engine::new(&config).map_err(|e| WasmError::Setup(e.to_string()))?;
        Ok(Sandbox {
            engine,
            write_quota: WriteQuota::DEFAULT,
        })
    }

    /// This sandbox with another write quota for every app it runs.
    pub fn with_write_quota(self, write_quota: WriteQuota) -> Sandbox {
        Sandbox { write_quota, ..self }
    }

    /// Compiles `bytes`, or loads the compiled form from `cache_dir` when an entry there
    /// carries a valid MAC under `cache_key`. Without a key nothing is cached: compiled
    /// code from an unauthenticated file would be code injection into the enclave.
    pub fn load(
        &self,
        bytes: &[u8],
        module_sha256: &[u8; 32],
        cache_dir: Option<&Path>,
        cache_key: Option<[u8; 16]>,
    ) -> Result<Module, WasmError> {
        if let Some(module) = self.load_cached(module_sha256, cache_dir, cache_key) {
            return Ok(module);
        }
        self.compile(bytes, module_sha256, cache_dir, cache_key)
    }

    /// The compiled module for `module_sha256` from the cache, if an entry there carries a
    /// valid MAC: then the module's bytes need not even be read.
    pub fn load_cached(
        &self,
        module_sha256: &[u8; 32],
        cache_dir: Option<&Path>,
        cache_key: Option<[u8; 16]>,
    ) -> Option<Module> {
        let (dir, key) = (cache_dir?, cache_key?);
        let entry = std::fs::read(self.cache_path(dir, module_sha256)).ok()?;
        let serialized = authenticated(&entry, module_sha256, &key)?;
        // SAFETY: `Module::deserialize` runs the machine code it is given. These bytes
        // carry an HMAC-SHA256, under a key only this enclave derives, over the module
        // hash and the bytes: they are exactly what `Module::serialize` produced in an
        // enclave with this measurement for this module. wasmtime checks the engine
        // version and settings and refuses a mismatch with an error, not UB.
        unsafe { Module::deserialize(&self.engine, serialized) }.ok()
    }

    /// Compiles `bytes` (whose sha256 the caller checked) and, under a key, caches the
    /// compiled form with its MAC.
    pub fn compile(
        &self,
        bytes: &[u8],
        module_sha256: &[u8; 32],
        cache_dir: Option<&Path>,
        cache_key: Option<[u8; 16]>,
    ) -> Result<Module, WasmError> {
        let module = Module::new(&self.engine, bytes).map_err(|e| WasmError::Compile(e.to_string()))?;
        let (Some(dir), Some(key)) = (cache_dir, cache_key) else {
            return Ok(module);
        };
        if let Ok(serialized) = module.serialize() {
            let path = self.cache_path(dir, module_sha256);
            let tag = mac(&key, module_sha256, &serialized);
            let temporary = path.with_extension(format!("tmp{}", std::process::id()));
            let written = std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&temporary, [serialized.as_slice(), tag.as_slice()].concat()))
                .and_then(|()| std::fs::rename(&temporary, &path));
            if written.is_err() {
                let _ = std::fs::remove_file(&temporary);
            }
        }
        Ok(module)
    }

    fn cache_path(&self, dir: &Path, module_sha256: &[u8; 32]) -> std::path::PathBuf {
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut engine_hash);
        dir.join(format!(
            "{}-{:016x}.cwasm",
            alloy_primitives::hex::encode(module_sha256),
            engine_hash.finish()
        ))
    }

    /// Checks that everything `module` imports is something this sandbox provides, before
    /// anything is registered or run.
    pub fn check_imports(&self, module: &Module) -> Result<(), WasmError> {
        let linker = self.linker().map_err(|e| WasmError::Setup(e.to_string()))?;
        linker
            .instantiate_pre(module)
            .map(drop)
            .map_err(|e| WasmError::Imports(e.to_string()))
    }

    /// The linker every app is instantiated with: WASI preview 1 and the no-host door.
    fn linker(&self) -> wasmtime::Result<Linker<Host>> {
        let mut linker: Linker<Host> = Linker::new(&self.engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |host: &mut Host| &mut host.wasi)?;
        crate::clocks::add_to_linker(&mut linker, |host: &Host| host.clock)?;
        linker.func_wrap(DOOR_MODULE, DOOR_NAME, |_: i32, _: i32, _: i32, _: i32| NO_HOST)?;
        Ok(linker)
    }

    /// Runs the module's `_start` to completion, a trap, or a limit.
    pub fn run(&self, module: &Module, app: AppInvocation<'_>) -> Result<AppOutput, WasmError> {
        let (output, outcome) = self.run_keeping_output(module, app);
        outcome.map(|()| output)
    }

    /// [`Sandbox::run`], with what the app printed kept when it fails too: a developer
    /// needs it most then (it goes into the encrypted result, never to the host).
    pub fn run_keeping_output(&self, module: &Module, app: AppInvocation<'_>) -> (AppOutput, Result<(), WasmError>) {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAP);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAP);
        let pipes = (stdout.clone(), stderr.clone());
        // Its own thread: the app's stack lives on the native stack of the thread that
        // calls into it, and a runtime's worker thread has too little for CPython.
        let outcome = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("app".into())
                .stack_size(RUN_THREAD_STACK)
                .spawn_scoped(scope, || self.run_with_pipes(module, app, pipes.0, pipes.1))
                .map_err(|e| WasmError::Setup(e.to_string()))?
                .join()
                .unwrap_or_else(|_| Err(WasmError::Setup("the app's thread panicked".into())))
        });
        let output = AppOutput {
            stdout: stdout.contents().to_vec(),
            stderr: stderr.contents().to_vec(),
        };
        (output, outcome)
    }

    fn run_with_pipes(
        &self,
        module: &Module,
        app: AppInvocation<'_>,
        stdout: MemoryOutputPipe,
        stderr: MemoryOutputPipe,
    ) -> Result<(), WasmError> {
        let wasi = sandbox(&app, stdout, stderr)?;
        let clock = crate::clocks::RunClock::starting_now(app.max_run);
        let host = Host {
            wasi,
            limiter: MemoryCap {
                max: usize::try_from(app.memory_limit).unwrap_or(usize::MAX),
                table_elements: 0,
                hit: false,
            },
            clock,
        };
        // wasmtime refuses a module past the table count with a generic error; counted
        // here first, it is the memory refusal it is.
        if module.resources_required().num_tables as usize > MAX_TABLES {
            return Err(WasmError::OutOfMemory {
                limit_mib: app.memory_limit >> 20,
            });
        }
        let mut store = Store::new(&self.engine, host);
        store.limiter(|host| &mut host.limiter);
        // A watchdog ticks the engine's epoch once when this run's budget is spent or its
        // write quota passed. The epoch is the engine's, shared by every run on it: a tick
        // ends this run only once its own deadline has passed or its own quota is gone,
        // and lets any other run go on.
        let deadline = clock.deadline();
        let over_quota = Arc::new(AtomicBool::new(false));
        store.set_epoch_deadline(1);
        let stop = over_quota.clone();
        store.epoch_deadline_callback(move |_| {
            if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                Err(Trap::Interrupt.into())
            } else {
                Ok(wasmtime::UpdateDeadline::Continue(1))
            }
        });
        let linker = self.linker().map_err(|e| WasmError::Setup(e.to_string()))?;
        let writable: Vec<PathBuf> = std::iter::once(app.output_dir.to_path_buf())
            .chain(app.mounts.iter().filter(|m| m.writable).map(|m| m.host.to_path_buf()))
            .collect();
        let (finished, watchdog) = self.watchdog(deadline, writable.clone(), over_quota.clone());
        let outcome = linker
            .instantiate(&mut store, module)
            .and_then(|instance| match app.entry {
                Entry::Command => instance
                    .get_typed_func::<(), ()>(&mut store, "_start")
                    .and_then(|start| start.call(&mut store, ()))
                    .map(|()| 0),
                Entry::Reactor => {
                    if let Some(initialize) = instance.get_func(&mut store, "_initialize") {
                        initialize.typed::<(), ()>(&store)?.call(&mut store, ())?;
                    }
                    instance
                        .get_typed_func::<(), i32>(&mut store, "run")
                        .and_then(|run| run.call(&mut store, ()))
                }
            });
        drop(finished);
        let _ = watchdog.join();
        // Once more after the app: what it wrote since the last look counts too.
        if over_quota.load(Ordering::SeqCst) || !self.write_quota.holds(&writable) {
            return Err(WasmError::WriteQuota {
                quota: self.write_quota,
            });
        }
        judge(outcome, store.data().limiter.hit, &app)
    }

    /// Ticks the engine's epoch once at `deadline`, or as soon as `writable` holds more
    /// than the write quota (then `over_quota` is set), unless the returned sender is
    /// dropped first.
    fn watchdog(
        &self,
        deadline: Instant,
        writable: Vec<PathBuf>,
        over_quota: Arc<AtomicBool>,
    ) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
        let (finished, wait) = mpsc::channel::<()>();
        let engine = self.engine.weak();
        let quota = self.write_quota;
        let handle = std::thread::spawn(move || {
            loop {
                let pause = deadline
                    .saturating_duration_since(Instant::now())
                    .min(QUOTA_CHECK_EVERY);
                if !matches!(wait.recv_timeout(pause), Err(mpsc::RecvTimeoutError::Timeout)) {
                    return;
                }
                let spent = Instant::now() >= deadline;
                if !spent && quota.holds(&writable) {
                    continue;
                }
                if !spent {
                    over_quota.store(true, Ordering::SeqCst);
                }
                if let Some(engine) = engine.upgrade() {
                    engine.increment_epoch();
                }
                return;
            }
        });
        (finished, handle)
    }
}

fn mac(key: &[u8; 16], module_sha256: &[u8; 32], serialized: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key size");
    mac.update(module_sha256);
    mac.update(serialized);
    mac.finalize().into_bytes().into()
}

/// The serialized module of a cache entry, if its MAC verifies.
fn authenticated<'a>(entry: &'a [u8], module_sha256: &[u8; 32], key: &[u8; 16]) -> Option<&'a [u8]> {
    let split = entry.len().checked_sub(32)?;
    let (serialized, tag) = entry.split_at(split);
    let mut check = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key size");
    check.update(module_sha256);
    check.update(serialized);
    check.verify_slice(tag).ok()?;
    Some(serialized)
}

/// The app's sandbox: its arguments and environment, its output captured, no network,
/// and no file but `/iexec_in` (read-only), `/iexec_out` and the mounts it was given.
fn sandbox(
    app: &AppInvocation<'_>,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
) -> Result<wasmtime_wasi::p1::WasiP1Ctx, WasmError> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .args(&app.args)
        .envs(&app.env)
        .stdout(stdout)
        .stderr(stderr)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .allow_blocking_current_thread(true);
    builder
        .preopened_dir(app.input_dir, "/iexec_in", FsPerms::ReadOnly)
        .and_then(|b| b.preopened_dir(app.output_dir, "/iexec_out", FsPerms::ReadWrite))
        .map_err(|e| WasmError::Setup(e.to_string()))?;
    for mount in &app.mounts {
        let perms = if mount.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        builder
            .preopened_dir(mount.host, &mount.guest, perms)
            .map_err(|e| WasmError::Setup(e.to_string()))?;
    }
    Ok(builder.build_p1())
}

/// How a run ended: an exit status of 0 is success; a trap or exit after the memory cap
/// refused an allocation is out of memory; an interrupt is the time budget spent.
fn judge(outcome: wasmtime::Result<i32>, memory_cap_hit: bool, app: &AppInvocation<'_>) -> Result<(), WasmError> {
    let error = match outcome {
        Ok(0) => return Ok(()),
        // An interpreter turns a refused allocation into its own error and exits.
        Ok(_) if memory_cap_hit => {
            return Err(WasmError::OutOfMemory {
                limit_mib: app.memory_limit >> 20,
            });
        }
        Ok(status) => return Err(WasmError::Exit(status)),
        Err(error) => error,
    };
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return match exit.0 {
            0 => Ok(()),
            _ if memory_cap_hit => Err(WasmError::OutOfMemory {
                limit_mib: app.memory_limit >> 20,
            }),
            status => Err(WasmError::Exit(status)),
        };
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return Err(WasmError::Timeout {
            seconds: app.max_run.as_secs(),
        });
    }
    if memory_cap_hit {
        return Err(WasmError::OutOfMemory {
            limit_mib: app.memory_limit >> 20,
        });
    }
    Err(WasmError::Trap(error.to_string()))
}
