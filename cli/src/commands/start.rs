//! `start`: one run of the deployed state machine for the secret's current version, named
//! by the trigger's rule (a manual dry run never takes the name the change's event uses).

use rotatetoken::domain::model::ExecutionInput;
use rotatetoken::domain::trigger;
use rotatetoken::ports::SecretDirectory;
use serde_json::json;

use super::{print_json, secret, Attention};
use crate::args::Output;
use crate::context::Context;
use crate::error::{self, CliError};
use crate::execution::execution_arn;

pub async fn run(ctx: &Context, id: &str, dry_run: bool) -> Result<Attention, CliError> {
    let machine = ctx.state_machine().await?;
    let (secrets, mut secret) = secret(ctx, id).await?;
    let versions = secrets.versions(&secret.arn).await?;
    let version = versions
        .current()
        .ok_or_else(|| {
            CliError::Invalid(format!("secret {} has no AWSCURRENT version", secret.arn))
        })?
        .to_string();
    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);
    let own = trigger::execution_name(&secret.arn, &version);
    let taken = sfn
        .describe_execution()
        .execution_arn(execution_arn(&machine, &own))
        .send()
        .await
        .is_ok();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let name = trigger::manual_execution_name(&secret.arn, &version, dry_run, taken, now_ms);
    secret.version_id = Some(version.clone());
    let input = ExecutionInput {
        secret,
        cause: "manual".into(),
        dry_run,
        reconcile: false,
        coalesce_seconds: 0,
    };
    let started = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name(&name)
        .input(serde_json::to_string(&input).map_err(|e| CliError::Invalid(e.to_string()))?)
        .send()
        .await
        .map_err(|e| match error::aws("StartExecution", &e) {
            CliError::Aws(m) if m.contains("StateMachineDoesNotExist") => CliError::not_found(
                format!("state machine {machine} was not found"),
                "give --stack <your deployment> (and --region) or --state-machine <arn>",
            ),
            other => other,
        })?;
    let arn = started.execution_arn().to_string();
    match ctx.global.output {
        Output::Json => print_json(
            &json!({"execution_arn": arn, "name": name, "version_id": version, "dry_run": dry_run}),
        )?,
        Output::Table => {
            println!("{arn}");
            eprintln!(
                "started {}for version {version}; follow it with: rotate-token watch {name}",
                if dry_run { "a dry run " } else { "" }
            );
        }
    }
    Ok(false)
}
