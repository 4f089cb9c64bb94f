//! The protected data of the running task, as Confide's enclave (or iExec's pre-compute)
//! hands them to an app: one in `$IEXEC_IN/$IEXEC_DATASET_FILENAME`, or for a bulk task
//! `IEXEC_BULK_SLICE_SIZE` of them, the `i`th in `$IEXEC_IN/$IEXEC_DATASET_{i}_FILENAME`.
//! A protected data of a bulk slice the app may not read has no file; Confide's enclave
//! also says why in `IEXEC_DATASET_{i}_REFUSED` (a stable code, e.g. `INCOMPATIBLE` for a
//! revoked grant).

use std::path::PathBuf;

use crate::ProtectedData;

/// One protected data of the task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInput {
    /// Its position: 1 to the slice size (1 for a task with a single protected data).
    pub index: usize,
    /// Its file name in `IEXEC_IN` (the protected data's address, in a task).
    pub filename: String,
    /// Why the app did not receive it, when it did not (bulk tasks on Confide).
    pub refused: Option<String>,
    path: PathBuf,
}

impl TaskInput {
    /// Whether the enclave gave the app this protected data's file.
    pub fn received(&self) -> bool {
        self.refused.is_none() && self.path.is_file()
    }

    /// Reads it. An input the app did not receive is an [`Error::Unreadable`](crate::Error::Unreadable).
    pub fn read(&self) -> crate::Result<ProtectedData> {
        if let Some(code) = &self.refused {
            return Err(crate::Error::Unreadable(format!(
                "{} was not given to this task ({code})",
                self.filename
            )));
        }
        let bytes = std::fs::read(&self.path)
            .map_err(|e| crate::Error::Unreadable(format!("{}: {}", self.filename, e.kind())))?;
        ProtectedData::from_zip(&bytes)
    }
}

/// The task's protected data in order, read from the environment: none when the task has
/// none. The slice size is capped at 100 (iExec's limit), whatever the variable says.
pub fn task_inputs() -> Vec<TaskInput> {
    task_inputs_from(|name| std::env::var(name).ok())
}

/// [`task_inputs`] over any variable source (tests, or an app that mocks its environment).
pub fn task_inputs_from(var: impl Fn(&str) -> Option<String>) -> Vec<TaskInput> {
    let input = PathBuf::from(var("IEXEC_IN").unwrap_or_else(|| "/iexec_in".into()));
    let entry = |index: usize, filename: String, refused: Option<String>| TaskInput {
        index,
        path: input.join(&filename),
        filename,
        refused,
    };
    if let Some(size) = var("IEXEC_BULK_SLICE_SIZE").and_then(|s| s.trim().parse::<usize>().ok()) {
        return (1..=size.min(100))
            .filter_map(|i| {
                let filename = var(&format!("IEXEC_DATASET_{i}_FILENAME")).filter(|f| is_plain_name(f))?;
                Some(entry(i, filename, var(&format!("IEXEC_DATASET_{i}_REFUSED"))))
            })
            .collect();
    }
    var("IEXEC_DATASET_FILENAME")
        .filter(|f| is_plain_name(f))
        .map(|filename| vec![entry(1, filename, None)])
        .unwrap_or_default()
}

/// A file name of `IEXEC_IN` itself: nothing that climbs out of it.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn source(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn a_bulk_task_lists_its_slice_in_order_with_refusals() {
        let inputs = task_inputs_from(source(&[
            ("IEXEC_IN", "/in"),
            ("IEXEC_BULK_SLICE_SIZE", "3"),
            ("IEXEC_DATASET_1_FILENAME", "0xA"),
            ("IEXEC_DATASET_2_FILENAME", "0xB"),
            ("IEXEC_DATASET_2_REFUSED", "INCOMPATIBLE"),
            ("IEXEC_DATASET_3_FILENAME", "../etc/passwd"),
        ]));
        assert_eq!(inputs.len(), 2);
        assert_eq!((inputs[0].index, inputs[0].filename.as_str()), (1, "0xA"));
        assert_eq!(inputs[1].refused.as_deref(), Some("INCOMPATIBLE"));
        assert!(!inputs[1].received());
        assert!(matches!(inputs[1].read(), Err(crate::Error::Unreadable(_))));
    }

    #[test]
    fn a_single_protected_data_is_index_one() {
        let inputs = task_inputs_from(source(&[("IEXEC_DATASET_FILENAME", "0xA")]));
        assert_eq!(inputs.len(), 1);
        assert_eq!(inputs[0].path, PathBuf::from("/iexec_in/0xA"));
        assert!(task_inputs_from(source(&[])).is_empty());
    }
}
