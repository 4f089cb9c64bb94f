//! The demo app: statistics over the CSV dataset in `$IEXEC_IN`, written to
//! `$IEXEC_OUT/result.json` (iExec's app conventions; runs unchanged in any iExec worker
//! that runs wasm, and natively for benchmarks).

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let input_dir = PathBuf::from(std::env::var("IEXEC_IN").unwrap_or_else(|_| "/iexec_in".into()));
    let output_dir = PathBuf::from(std::env::var("IEXEC_OUT").unwrap_or_else(|_| "/iexec_out".into()));
    let Ok(filename) = std::env::var("IEXEC_DATASET_FILENAME") else {
        eprintln!("csv-stats needs a dataset: IEXEC_DATASET_FILENAME is not set");
        return ExitCode::from(2);
    };
    let dataset = input_dir.join(filename);
    let file = match File::open(&dataset) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("cannot open the dataset {}: {e}", dataset.display());
            return ExitCode::from(2);
        }
    };
    let stats = match csv_stats::compute(BufReader::with_capacity(1 << 16, file)) {
        Ok(stats) => stats,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let result = output_dir.join("result.json");
    let computed = format!("{{\"deterministic-output-path\":\"{}\"}}\n", result.display());
    if let Err(e) = std::fs::write(&result, stats.to_json())
        .and_then(|()| std::fs::write(output_dir.join("computed.json"), computed))
    {
        eprintln!("cannot write the result: {e}");
        return ExitCode::from(1);
    }
    println!("{} rows, {} columns", stats.rows, stats.columns.len());
    ExitCode::SUCCESS
}
