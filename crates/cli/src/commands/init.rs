//! `confide init`: iexec.json and chain.json in the current directory.

use clap::Args;
use serde_json::json;

use crate::context::Context;
use crate::output::CliResult;
use crate::project::{CHAIN_JSON, IEXEC_JSON, Project, main_template, write_json};

#[derive(Args, Debug)]
pub(crate) struct InitArgs {
    /// Overwrite existing project files.
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: InitArgs, ctx: &Context) -> CliResult {
    let project = Project::current();
    let mut written = Vec::new();
    if args.force || !project.has_iexec_json() {
        write_json(&project.path(IEXEC_JSON), &main_template())?;
        written.push(IEXEC_JSON);
    }
    let chain_json = project.path(CHAIN_JSON);
    if args.force || !chain_json.exists() {
        // The dev stack's chain when there is one, else a local placeholder to edit.
        let dev = confide_devstack::DevStack::default_dir().join(CHAIN_JSON);
        let value = match std::fs::read_to_string(&dev)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
        {
            Some(value) => value,
            None => {
                json!({ "default": "dev", "chains": { "dev": { "id": "31337", "host": "http://127.0.0.1:8545" } } })
            }
        };
        write_json(&chain_json, &value)?;
        written.push(CHAIN_JSON);
    }
    let text = if written.is_empty() {
        "project files already exist (use --force to overwrite)".to_owned()
    } else {
        format!("created {}", written.join(" and "))
    };
    ctx.out.done(&text, json!({ "written": written }));
    Ok(())
}
