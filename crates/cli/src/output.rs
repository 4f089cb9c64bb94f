//! Text for people, JSON for scripts, and errors as one line with a stable code.

use serde_json::{Value, json};

/// A failure of a command: a stable code for machines and one line for people.
#[derive(Debug)]
pub struct CliError {
    pub code: &'static str,
    pub message: String,
}

impl CliError {
    pub fn new(code: &'static str, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
        }
    }
}

impl From<confide_chain::ChainError> for CliError {
    fn from(error: confide_chain::ChainError) -> Self {
        CliError::new(error.code(), error.to_string())
    }
}

impl From<confide_devstack::DevError> for CliError {
    fn from(error: confide_devstack::DevError) -> Self {
        CliError::new(error.code(), error.to_string())
    }
}

pub type CliResult = Result<(), CliError>;

pub struct Output {
    raw: bool,
}

impl Output {
    pub fn new(raw: bool) -> Output {
        Output { raw }
    }

    pub fn is_raw(&self) -> bool {
        self.raw
    }

    /// A progress line for people (stderr, so stdout stays clean); silent with `--raw`.
    pub fn step(&self, text: &str) {
        if !self.raw {
            eprintln!("✔ {text}");
        }
    }

    /// A warning: something works less than it could; the command goes on. Always on
    /// stderr (scripts see it in their logs, never in their JSON).
    pub fn warn(&self, text: &str) {
        eprintln!("warning: {text}");
    }

    /// The command's result: `text` for people, `{"ok":true, …fields}` for scripts.
    pub fn done(&self, text: &str, fields: Value) {
        if self.raw {
            let mut object = json!({ "ok": true });
            if let (Some(target), Value::Object(extra)) = (object.as_object_mut(), fields) {
                target.extend(extra);
            }
            println!("{object}");
        } else {
            println!("{text}");
        }
    }

    pub fn fail(&self, error: &CliError) {
        if self.raw {
            println!(
                "{}",
                json!({ "ok": false, "error": { "code": error.code, "message": error.message } })
            );
        } else {
            eprintln!("error: {}", error.message);
        }
    }
}
