//! A Confide app reading a protected data (iExec DataProtector's format) with the
//! `confide-protected-data` crate: it greets the data's `email` and says how old the
//! `profile.age` field makes its owner, into `/iexec_out/result.txt`.
//!
//! The enclave decrypts the protected data into `$IEXEC_IN/$IEXEC_DATASET_FILENAME`; the
//! app reads only the fields it needs, by path and type, as the data owner's schema names
//! them. In a bulk task it greets each protected data of its slice, one line each, and
//! says which it did not receive and why.

use std::path::PathBuf;

use confide_protected_data::{ProtectedData, TaskInput, task_inputs};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn greeting() -> Result<String, String> {
    let inputs = task_inputs();
    if std::env::var("IEXEC_BULK_SLICE_SIZE").is_ok() {
        return Ok(inputs.iter().map(bulk_line).collect::<Vec<_>>().join("\n"));
    }
    let input = inputs
        .first()
        .ok_or_else(|| "this task has no protected data".to_owned())?;
    let data = input.read().map_err(|e| e.to_string())?;
    greet(&data)
}

/// One protected data of a bulk slice: its greeting, or why there is none.
fn bulk_line(input: &TaskInput) -> String {
    let text = match (&input.refused, input.read()) {
        (Some(code), _) => format!("not received ({code})"),
        (None, Ok(data)) => greet(&data).unwrap_or_else(|e| e),
        (None, Err(e)) => e.to_string(),
    };
    format!("{} {}: {text}", input.index, input.filename)
}

fn greet(data: &ProtectedData) -> Result<String, String> {
    let email = data.get_string("email").map_err(|e| e.to_string())?;
    let mut text = format!("Hello, {email}!");
    if let Ok(age) = data.get_f64("profile.age") {
        text.push_str(&format!(" You are {age} years old."));
    }
    if let Some(word) = std::env::args().nth(1) {
        text.push_str(&format!(" ({word})"));
    }
    Ok(text)
}

fn main() {
    let output = PathBuf::from(env_or("IEXEC_OUT", "/iexec_out"));
    let computed = match greeting() {
        Ok(text) => {
            let result = output.join("result.txt");
            std::fs::write(&result, text).expect("/iexec_out is writable");
            format!("{{\"deterministic-output-path\":\"{}\"}}", result.display())
        }
        Err(message) => {
            eprintln!("{message}");
            format!(
                "{{\"deterministic-output-path\":\"{}\",\"error-message\":{:?}}}",
                output.display(),
                message
            )
        }
    };
    std::fs::write(output.join("computed.json"), computed).expect("/iexec_out is writable");
}
