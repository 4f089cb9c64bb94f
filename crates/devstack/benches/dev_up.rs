//! How long `confide dev up` takes: a fresh chain with PoCo deployed, then a restart that
//! resumes the saved state. Run: `cargo bench -p confide-devstack --bench dev_up`.

use std::time::Instant;

use confide_devstack::anvil::free_port;
use confide_devstack::{DevStack, UpOptions};

const ROUNDS: usize = 5;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    // Fetch the pinned tools once, outside the measurement, as a second `up` would find them.
    let cache = confide_devstack::deps::cache_dir();
    confide_devstack::deps::anvil_binary(&cache).expect("anvil");
    confide_devstack::deps::poco_package(&cache).expect("PoCo");

    let mut fresh = Vec::new();
    let mut restart = Vec::new();
    for _ in 0..ROUNDS {
        let dir = tempfile::tempdir().expect("temp dir");
        let stack = DevStack::new(dir.path());
        let options = UpOptions {
            port: free_port(),
            ..UpOptions::default()
        };
        let started = Instant::now();
        runtime.block_on(stack.up(&options, |_| {})).expect("fresh up");
        fresh.push(started.elapsed().as_secs_f64());
        stack.down().expect("down");
        let started = Instant::now();
        runtime.block_on(stack.up(&options, |_| {})).expect("restart");
        restart.push(started.elapsed().as_secs_f64());
        stack.down().expect("down");
    }
    report("dev up, fresh chain + PoCo deployment", &mut fresh);
    report("dev up, restart from saved state", &mut restart);
}

fn report(name: &str, samples: &mut [f64]) {
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    let max = samples[samples.len() - 1];
    println!(
        "{name}: median {median:.2} s, max {max:.2} s over {} runs",
        samples.len()
    );
}
