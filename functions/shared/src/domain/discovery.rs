//! Finds the stacks a secret change must refresh, and reports every stack with the token
//! parameter that cannot be refreshed now.

use futures::{stream, StreamExt, TryStreamExt};

use super::model::{DiscoveryOutput, ExecutionInput, RefreshTask, SkippedStack, StackSnapshot};
use super::selection::{
    mentions_secret, not_refreshable_reason, parameters_mention_secret, SelectionMode,
};
use crate::ports::{AwsError, StackDirectory};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverySettings {
    pub parameter: String,
    pub mode: SelectionMode,
    pub max_concurrency: u32,
    /// GetTemplate calls in flight at once (`referencing` mode).
    pub template_concurrency: usize,
}

pub async fn discover<D: StackDirectory + Sync>(
    directory: &D,
    input: ExecutionInput,
    settings: &DiscoverySettings,
) -> Result<DiscoveryOutput, AwsError> {
    let stacks = directory.list_stacks().await?;
    let scanned = stacks.len();
    let candidates: Vec<StackSnapshot> = stacks
        .into_iter()
        .filter(|s| s.parameter(&settings.parameter).is_some())
        .collect();

    let consumers: Vec<StackSnapshot> = match settings.mode {
        SelectionMode::All => candidates,
        SelectionMode::Referencing => {
            let secret = &input.secret;
            stream::iter(candidates)
                .map(|snapshot| async move {
                    if parameters_mention_secret(&snapshot, secret) {
                        return Ok::<_, AwsError>(Some(snapshot));
                    }
                    let body = directory.template_body(&snapshot.stack).await?;
                    Ok(mentions_secret(&body, secret).then_some(snapshot))
                })
                .buffered(settings.template_concurrency.max(1))
                .try_filter_map(|s| async move { Ok(s) })
                .try_collect()
                .await?
        }
    };
    let not_consumers = scanned - consumers.len();

    let mut selected = Vec::new();
    let mut skipped = Vec::new();
    for snapshot in consumers {
        match not_refreshable_reason(&snapshot) {
            None => selected.push(RefreshTask::new(snapshot.stack, settings.parameter.clone())),
            Some(reason) => skipped.push(SkippedStack {
                stack: snapshot.stack,
                status: snapshot.status,
                reason,
            }),
        }
    }
    selected.sort_by(|a, b| a.stack.cmp(&b.stack));
    Ok(DiscoveryOutput {
        secret: input.secret,
        cause: input.cause,
        dry_run: input.dry_run,
        parameter: settings.parameter.clone(),
        mode: settings.mode.as_str().to_string(),
        max_concurrency: settings.max_concurrency,
        scanned,
        not_consumers,
        selected,
        skipped,
    })
}
