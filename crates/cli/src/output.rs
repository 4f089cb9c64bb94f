//! Text for people, JSON for scripts, and errors as one line with a stable code.

use serde_json::{Value, json};

/// A failure of a command: a stable code for machines and one line for people.
#[derive(Debug)]
pub(crate) struct CliError {
    pub code: &'static str,
    pub message: String,
}

impl CliError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
        }
    }

    /// A file operation on `path` that failed: `IO_ERROR`, naming the path.
    pub(crate) fn io(path: impl AsRef<std::path::Path>, error: impl std::fmt::Display) -> CliError {
        CliError::new("IO_ERROR", format!("{}: {error}", path.as_ref().display()))
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

pub(crate) type CliResult = Result<(), CliError>;

pub(crate) struct Output {
    raw: bool,
}

impl Output {
    pub(crate) fn new(raw: bool) -> Output {
        Output { raw }
    }

    pub(crate) fn is_raw(&self) -> bool {
        self.raw
    }

    /// A progress line for people (stderr, so stdout stays clean); silent with `--raw`.
    pub(crate) fn step(&self, text: &str) {
        if !self.raw {
            eprintln!("✔ {}", for_terminal(text));
        }
    }

    /// A warning: something works less than it could; the command goes on. Always on
    /// stderr (scripts see it in their logs, never in their JSON).
    pub(crate) fn warn(&self, text: &str) {
        eprintln!("warning: {}", for_terminal(text));
    }

    /// The command's result: `text` for people, `{"ok":true, …fields}` for scripts.
    pub(crate) fn done(&self, text: &str, fields: Value) {
        if self.raw {
            let mut object = json!({ "ok": true });
            if let (Some(target), Value::Object(extra)) = (object.as_object_mut(), fields) {
                target.extend(extra);
            }
            println!("{object}");
        } else {
            println!("{}", for_terminal(text));
        }
    }

    pub(crate) fn fail(&self, error: &CliError) {
        if self.raw {
            println!(
                "{}",
                json!({ "ok": false, "error": { "code": error.code, "message": error.message } })
            );
        } else {
            eprintln!("error: {}", for_terminal(&error.message));
        }
    }
}

/// `text` as a terminal may show it: control characters other than newline and tab
/// (escape sequences that move the cursor, recolour or rewrite lines) are shown escaped.
/// Human output carries strings others chose (asset names, manifests, app logs): none of
/// them may fake a line of ours.
pub(crate) fn for_terminal(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod terminal_tests {
    #[test]
    fn control_sequences_are_shown_not_obeyed() {
        assert_eq!(super::for_terminal("plain\n\tline"), "plain\n\tline");
        assert_eq!(
            super::for_terminal("code \u{1b}[1A\u{1b}[2K✔ matches\r"),
            "code \\u{1b}[1A\\u{1b}[2K✔ matches\\r"
        );
    }
}
