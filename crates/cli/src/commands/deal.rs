//! `confide deal show | claim`: a deal's parties, prices and tasks, and claiming what did
//! not complete by its final deadline.

use clap::Subcommand;
use confide_chain::B256;
use serde_json::json;

use super::task::status_name;
use crate::context::Context;
use crate::output::CliResult;

#[derive(Subcommand, Debug)]
pub(crate) enum DealCommand {
    /// A deal: its parties, prices and the status of each task.
    Show { deal: B256 },
    /// Claim every task of the deal that did not complete by its final deadline (refund).
    Claim { deal: B256 },
}

pub(crate) async fn deal(command: DealCommand, ctx: &Context) -> CliResult {
    match command {
        DealCommand::Show { deal } => {
            let poco = ctx.poco().await?;
            let info = poco.deal(deal).await?;
            let mut tasks = Vec::new();
            let mut lines = vec![
                format!("deal {deal}"),
                format!("  app        {} ({} nRLC)", info.app, info.app_price),
                format!("  dataset    {} ({} nRLC)", info.dataset, info.dataset_price),
                format!("  workerpool {} ({} nRLC)", info.workerpool, info.workerpool_price),
                format!("  requester  {}  beneficiary {}", info.requester, info.beneficiary),
                format!(
                    "  tag {}  category {}  trust {}",
                    confide_protocol::Tag(info.tag),
                    info.category,
                    info.trust
                ),
                format!("  tasks ({}):", info.bot_size),
            ];
            for task_id in info.task_ids() {
                let task = poco.task(task_id).await?;
                lines.push(format!("    {task_id}  {}", status_name(task.status)));
                tasks.push(json!({ "taskId": task_id, "status": status_name(task.status) }));
            }
            ctx.out.done(&lines.join("\n"), json!({ "deal": info, "tasks": tasks }));
        }
        DealCommand::Claim { deal } => {
            let poco = ctx.signed_poco().await?;
            let info = poco.deal(deal).await?;
            let claimed = poco.claim_deal(&info).await?;
            ctx.out.done(
                &format!(
                    "✔ claimed {} task(s) of deal {deal}: the requester is refunded",
                    claimed.len()
                ),
                json!({ "claimed": claimed }),
            );
        }
    }
    Ok(())
}
