//! The app sandbox: a WASI preview 1 module under wasmtime, with iExec's app conventions
//! and nothing else. It sees `/iexec_in` (read-only) and `/iexec_out`, its args and env;
//! no network, no other files, no clock-based escape from its wall-time budget, and a
//! memory cap it cannot grow past.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::{Config, Engine, Linker, Module, ResourceLimiter, Store, Trap};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// How much of the app's stdout and stderr is kept (the rest is refused to the app).
const OUTPUT_CAP: usize = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    #[error("the app module is not valid WebAssembly: {0}")]
    Compile(String),
    #[error("the app cannot start: {0}")]
    Setup(String),
    #[error("the app trapped: {0}")]
    Trap(String),
    #[error("the app ran out of its {seconds} s wall-time budget")]
    Timeout { seconds: u64 },
    #[error("the app tried to use more than its {limit_mib} MiB of memory")]
    OutOfMemory { limit_mib: u64 },
    #[error("the app exited with status {0}")]
    Exit(i32),
}

impl WasmError {
    pub fn code(&self) -> &'static str {
        match self {
            WasmError::Compile(_) => "APP_INVALID_MODULE",
            WasmError::Setup(_) => "APP_SETUP_FAILED",
            WasmError::Trap(_) => "APP_TRAPPED",
            WasmError::Timeout { .. } => "APP_TIMEOUT",
            WasmError::OutOfMemory { .. } => "APP_OUT_OF_MEMORY",
            WasmError::Exit(_) => "APP_EXIT_NONZERO",
        }
    }

    /// The sentence that may leave the enclave. A trap's text (a backtrace naming the
    /// app's functions) and an exit status are the app's choice, so neither is in it: an
    /// app would use them to send bytes of what it read past the result's encryption.
    pub fn public_message(&self) -> String {
        match self {
            WasmError::Trap(_) => "the app trapped (a panic, an unreachable or an invalid memory access)".into(),
            WasmError::Exit(_) => "the app exited with a non-zero status".into(),
            WasmError::Compile(_) | WasmError::Setup(_) | WasmError::Timeout { .. } | WasmError::OutOfMemory { .. } => {
                self.to_string()
            }
        }
    }
}

/// One engine per runtime process: compilation settings are fixed here, so cached
/// modules are only reused by an identical engine.
pub struct Sandbox {
    engine: Engine,
}

/// What the app is given.
pub struct AppInvocation<'a> {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub input_dir: &'a Path,
    pub output_dir: &'a Path,
    pub memory_limit: u64,
    pub max_run: Duration,
}

/// The app's captured output (kept inside the enclave; see `task`).
pub struct AppOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

struct Host {
    wasi: WasiP1Ctx,
    limiter: MemoryCap,
}

struct MemoryCap {
    max: usize,
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

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

impl Sandbox {
    pub fn new() -> Result<Sandbox, WasmError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // One linear memory: the memory cap is per memory, so several would multiply it.
        config.wasm_multi_memory(false);
        let engine = Engine::new(&config).map_err(|e| WasmError::Setup(e.to_string()))?;
        Ok(Sandbox { engine })
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
        let (Some(dir), Some(key)) = (cache_dir, cache_key) else {
            return Module::new(&self.engine, bytes).map_err(|e| WasmError::Compile(e.to_string()));
        };
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut engine_hash);
        let path = dir.join(format!(
            "{}-{:016x}.cwasm",
            alloy_primitives::hex::encode(module_sha256),
            engine_hash.finish()
        ));
        if let Ok(entry) = std::fs::read(&path)
            && let Some(serialized) = authenticated(&entry, module_sha256, &key)
        {
            // SAFETY: `Module::deserialize` runs the machine code it is given. These bytes
            // carry an HMAC-SHA256, under a key only this enclave derives, over the module
            // hash and the bytes: they are exactly what `Module::serialize` produced in an
            // enclave with this measurement for this module. wasmtime checks the engine
            // version and settings and refuses a mismatch with an error, not UB.
            if let Ok(module) = unsafe { Module::deserialize(&self.engine, serialized) } {
                return Ok(module);
            }
        }
        let module = Module::new(&self.engine, bytes).map_err(|e| WasmError::Compile(e.to_string()))?;
        if let Ok(serialized) = module.serialize() {
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
        let outcome = self.run_with_pipes(module, app, stdout.clone(), stderr.clone());
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
        let mut builder = WasiCtxBuilder::new();
        builder
            .args(&app.args)
            .envs(&app.env)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .allow_blocking_current_thread(true);
        builder
            .preopened_dir(app.input_dir, "/iexec_in", FsPerms::ReadOnly)
            .and_then(|b| b.preopened_dir(app.output_dir, "/iexec_out", FsPerms::ReadWrite))
            .map_err(|e| WasmError::Setup(e.to_string()))?;
        let host = Host {
            wasi: builder.build_p1(),
            limiter: MemoryCap {
                max: usize::try_from(app.memory_limit).unwrap_or(usize::MAX),
                hit: false,
            },
        };
        let mut store = Store::new(&self.engine, host);
        store.limiter(|host| &mut host.limiter);
        // One epoch tick ends the run: a watchdog ticks once when the budget is spent.
        store.set_epoch_deadline(1);
        let mut linker: Linker<Host> = Linker::new(&self.engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |host: &mut Host| &mut host.wasi)
            .map_err(|e| WasmError::Setup(e.to_string()))?;
        let (finished, watchdog) = self.watchdog(app.max_run);
        let outcome = linker
            .instantiate(&mut store, module)
            .and_then(|instance| instance.get_typed_func::<(), ()>(&mut store, "_start"))
            .and_then(|start| start.call(&mut store, ()));
        drop(finished);
        let _ = watchdog.join();
        let Err(error) = outcome else {
            return Ok(());
        };
        if let Some(exit) = error.downcast_ref::<I32Exit>() {
            return if exit.0 == 0 {
                Ok(())
            } else {
                Err(WasmError::Exit(exit.0))
            };
        }
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return Err(WasmError::Timeout {
                seconds: app.max_run.as_secs(),
            });
        }
        if store.data().limiter.hit {
            return Err(WasmError::OutOfMemory {
                limit_mib: app.memory_limit >> 20,
            });
        }
        Err(WasmError::Trap(error.to_string()))
    }

    /// Ticks the engine's epoch once after `budget` unless the returned sender is dropped.
    fn watchdog(&self, budget: Duration) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
        let (finished, wait) = mpsc::channel::<()>();
        let engine = self.engine.weak();
        let handle = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(budget)
                && let Some(engine) = engine.upgrade()
            {
                engine.increment_epoch();
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
