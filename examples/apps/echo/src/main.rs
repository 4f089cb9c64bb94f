//! The tests' app. It writes `$IEXEC_OUT/echo.txt`: its args, the `IEXEC_*` variables
//! (secrets only as "present", never their values), and every file in `$IEXEC_IN` with its
//! size. Its first argument can make it misbehave, so tests can check the sandbox:
//! `trap` (panics), `loop` (never ends), `oom` (allocates without bound), `escape` (tries
//! to read a host file outside its directories; exits 42 if it can), `write-input` (tries
//! to write into `/iexec_in`; exits 43 if it can), `exit3` (exits with status 3),
//! `no-computed` (forgets `computed.json`), `slow` (works for five seconds first, so a
//! test can stop its worker mid-task), `nondeterministic` (adds a random number, so two
//! workers' results differ).

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
        "slow" => std::thread::sleep(std::time::Duration::from_secs(5)),
        _ => {}
    }
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
