//! A Confide app reading a protected data (iExec DataProtector's format) with the
//! `confide-protected-data` crate: it greets the data's `email` and says how old the
//! `profile.age` field makes its owner, into `/iexec_out/result.txt`.
//!
//! The enclave decrypts the protected data into `$IEXEC_IN/$IEXEC_DATASET_FILENAME`; the
//! app reads only the fields it needs, by path and type, as the data owner's schema names
//! them.

use std::path::PathBuf;

use confide_protected_data::ProtectedData;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn greeting() -> Result<String, String> {
    let input = PathBuf::from(env_or("IEXEC_IN", "/iexec_in"));
    let name = std::env::var("IEXEC_DATASET_FILENAME").map_err(|_| "this task has no protected data".to_owned())?;
    let bytes = std::fs::read(input.join(name)).map_err(|e| format!("cannot read the protected data: {e}"))?;
    let data = ProtectedData::from_zip(&bytes).map_err(|e| e.to_string())?;
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
