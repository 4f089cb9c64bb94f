//! `confide info`: the PoCo contracts of the configured chain, like `iexec info`.

use serde_json::json;

use crate::context::Context;
use crate::output::CliResult;

pub(crate) async fn run(ctx: &Context) -> CliResult {
    let out = &ctx.out;
    let config = ctx.chain.resolve()?;
    let poco = config.connect(None).await?;
    let d = &poco.deployment;
    let categories = poco.categories().await?;
    let domain = poco.domain();
    let mut text = vec![
        format!(
            "chain              {} (id {}, {})",
            config.name, poco.connection.chain_id, config.rpc_url
        ),
        format!("hub                {}", d.hub),
        format!("RLC token          {}", d.token),
        format!("app registry       {}", d.app_registry),
        format!("dataset registry   {}", d.dataset_registry),
        format!("workerpool registry {}", d.workerpool_registry),
        format!("owner              {}", d.owner),
        format!("EIP-712 domain     iExecODB 5.0.0, separator {}", domain.separator()),
        "categories".to_owned(),
    ];
    text.extend(
        categories
            .iter()
            .enumerate()
            .map(|(i, (name, timeref))| format!("  {i} {name:<3} {timeref} s")),
    );
    out.done(
        &text.join("\n"),
        json!({
            "chainId": poco.connection.chain_id.to_string(),
            "host": config.rpc_url,
            "hubAddress": d.hub,
            "rlcAddress": d.token,
            "appRegistryAddress": d.app_registry,
            "datasetRegistryAddress": d.dataset_registry,
            "workerpoolRegistryAddress": d.workerpool_registry,
            "owner": d.owner,
            "domainSeparator": domain.separator(),
            "categories": categories.iter().enumerate().map(|(i, (name, timeref))| json!({
                "id": i, "name": name, "workClockTimeRef": timeref.to_string()
            })).collect::<Vec<_>>(),
        }),
    );
    Ok(())
}
