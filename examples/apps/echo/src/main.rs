//! The tests' app. It writes `$IEXEC_OUT/echo.txt`: its args, the `IEXEC_*` variables
//! (secrets only as "present", never their values), and every file in `$IEXEC_IN` with its
//! size. Its first argument can make it misbehave, so tests can check the sandbox:
//! `trap` (panics), `loop` (never ends), `oom` (allocates without bound), `escape` (tries
//! to read a host file outside its directories; exits 42 if it can), `write-input` (tries
//! to write into `/iexec_in`; exits 43 if it can), `exit3` (exits with status 3),
//! `no-computed` (forgets `computed.json`), `slow` (works for five seconds first, so a
//! test can stop its worker mid-task), `nondeterministic` (adds a random number, so two
//! workers' results differ). Three more play an app that tries to send the dataset past
//! the result's encryption, for the confinement tests: `leak-name` (a link in `/iexec_out`
//! named after the dataset's second line), `leak-exit` (exits with the line's first byte
//! as its status), `leak-computed` (`computed.json` a link to `/dev/zero`, to exhaust the runtime),
//! `leak-log` (prints the line, then panics: the log must reach the beneficiary only), and
//! `forge-log` (writes `/iexec_out/.confide/app.log`, the runtime's own folder).

use std::fmt::Write as _;
use std::path::PathBuf;

fn is_secret(name: &str) -> bool {
    name.contains("SECRET") || name.contains("KEY")
}

fn misbehave(how: &str) {
    match how {
        "trap" => panic!("asked to trap"),
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "oom" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 16 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "escape" => {
            for path in ["/etc/passwd", "/proc/self/environ", "../etc/passwd"] {
                if let Ok(text) = std::fs::read_to_string(path) {
                    println!("read {path}: {} bytes", text.len());
                    std::process::exit(42);
                }
            }
        }
        "write-input" => {
            let planted = std::fs::write("/iexec_in/planted", b"x");
            if planted.is_ok() {
                println!("wrote into /iexec_in");
                std::process::exit(43);
            }
        }
        "exit3" => std::process::exit(3),
        "leak-name" => {
            let secret = dataset_line(1);
            let name = format!("/iexec_out/{secret}");
            if !symlink("echo.txt", &name) {
                std::process::exit(50);
            }
        }
        "leak-exit" => {
            // WASI exit statuses are below 126: one 7-bit character a task.
            let secret = dataset_line(1);
            std::process::exit(i32::from(secret.as_bytes()[0] & 0x7f));
        }
        "leak-computed" => {
            let _ = std::fs::write("/iexec_out/echo.txt", dataset_line(1));
            if !symlink("/dev/zero", "/iexec_out/computed.json")
                && !symlink("../../../../../../../../../../dev/zero", "/iexec_out/computed.json")
            {
                std::process::exit(50);
            }
            std::process::exit(0);
        }
        "leak-log" => {
            let secret = dataset_line(1);
            println!("stdout: {secret}");
            eprintln!("stderr: {secret}");
            panic!("asked to fail after printing");
        }
        "forge-log" => {
            let _ = std::fs::create_dir_all("/iexec_out/.confide");
            let _ = std::fs::write("/iexec_out/.confide/app.log", "all went well");
        }
        "slow" => std::thread::sleep(std::time::Duration::from_secs(5)),
        "fill-disk" => {
            use std::io::Write as _;
            let mut file = std::fs::File::create("/iexec_out/fill").expect("the output is writable");
            let chunk = vec![7u8; 1 << 20];
            loop {
                let _ = file.write_all(&chunk);
            }
        }
        "fill-unlinked" => {
            use std::io::Write as _;
            // Removed at once, written through its descriptor: in no folder, still on disk.
            let mut file = std::fs::File::create("/iexec_out/hidden").expect("the output is writable");
            let _ = std::fs::remove_file("/iexec_out/hidden");
            let chunk = vec![7u8; 1 << 20];
            loop {
                let _ = file.write_all(&chunk);
            }
        }
        "sparse" => {
            // One seek and one byte: a terabyte by its length.
            let file = std::fs::File::create("/iexec_out/sparse").expect("the output is writable");
            let _ = file.set_len(1 << 40);
        }
        "many-files" => {
            let _ = std::fs::create_dir_all("/iexec_out/many");
            for n in 0u64.. {
                let _ = std::fs::write(format!("/iexec_out/many/{n}"), b"");
            }
        }
        _ => {}
    }
}

/// Line `index` of the dataset (`$IEXEC_DATASET_FILENAME` in `/iexec_in`).
fn dataset_line(index: usize) -> String {
    let name = std::env::var("IEXEC_DATASET_FILENAME").expect("a dataset");
    let text = std::fs::read_to_string(format!("/iexec_in/{name}")).expect("the dataset reads");
    text.lines().nth(index).unwrap_or_default().to_owned()
}

/// Makes the symbolic link `link` -> `target`, as any app can through WASI (std's own
/// `symlink_path` is not stable yet). True when made.
#[cfg(target_os = "wasi")]
fn symlink(target: &str, link: &str) -> bool {
    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    unsafe extern "C" {
        fn path_symlink(target: *const u8, target_len: usize, dir: u32, link: *const u8, link_len: usize) -> u16;
    }
    // The preopened folders are the descriptors after stdio; the link's path is relative
    // to one of them, and only /iexec_out is writable.
    let Some(relative) = link.strip_prefix("/iexec_out/") else {
        return false;
    };
    (3..8).any(|dir| {
        // SAFETY: both pointer and length pairs describe live `str`s, which the host only
        // reads during the call; `dir` is a plain number the host checks.
        unsafe { path_symlink(target.as_ptr(), target.len(), dir, relative.as_ptr(), relative.len()) == 0 }
    })
}

#[cfg(not(target_os = "wasi"))]
fn symlink(target: &str, link: &str) -> bool {
    std::os::unix::fs::symlink(target, link).is_ok()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(first) = args.first() {
        misbehave(first);
    }
    let input_dir = PathBuf::from(std::env::var("IEXEC_IN").unwrap_or_else(|_| "/iexec_in".into()));
    let output_dir = PathBuf::from(std::env::var("IEXEC_OUT").unwrap_or_else(|_| "/iexec_out".into()));

    let mut report = String::new();
    writeln!(report, "args: {args:?}").unwrap();
    let mut vars: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("IEXEC_")).collect();
    vars.sort();
    for (name, value) in vars {
        let shown = if is_secret(&name) { "present".to_owned() } else { value };
        writeln!(report, "env {name}={shown}").unwrap();
    }
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&input_dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.metadata().map(|m| m.len()).unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    for (name, size) in files {
        writeln!(report, "file {name} {size}").unwrap();
    }
    if args.first().map(String::as_str) == Some("nondeterministic") {
        // std's hasher keys come from the host's randomness (WASI `random_get`).
        use std::hash::BuildHasher;
        let random = std::collections::hash_map::RandomState::new().hash_one(0u8);
        writeln!(report, "random {random:016x}").unwrap();
    }
    std::fs::write(output_dir.join("echo.txt"), &report).expect("write echo.txt");
    if args.first().map(String::as_str) != Some("no-computed") {
        let computed = format!(
            "{{\"deterministic-output-path\":\"{}\"}}\n",
            output_dir.join("echo.txt").display()
        );
        std::fs::write(output_dir.join("computed.json"), computed).expect("write computed.json");
    }
    print!("{report}");
}
