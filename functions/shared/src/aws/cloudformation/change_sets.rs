//! Phase one's preview: a change set with the update's inputs, created, read (with the
//! nested stacks' own) and deleted by the caller.

use super::*;

/// The longest a preview waits for CloudFormation to create its change set.
const CHANGE_SET_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);
/// The longest a preview waits to delete a change set CloudFormation is still creating.
const DELETE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// How far CloudFormation got with a change set when it was read.
enum Readiness {
    /// Its changes were read.
    Read,
    /// Still being created (and the reader does not wait).
    NotYet(Option<u64>),
    /// Made before the stack was updated again (`ExecutionStatus` OBSOLETE).
    Obsolete,
    /// CloudFormation could not create it: its `StatusReason` (a reader that does not wait).
    Failed(String),
    /// Deleted since (DELETE_COMPLETE): as good as missing.
    Gone,
}

/// A change set's `CreationTime`, epoch milliseconds.
fn created_ms(
    out: &aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput,
) -> Option<u64> {
    out.creation_time()
        .and_then(|t| t.to_millis().ok())
        .and_then(|ms| u64::try_from(ms).ok())
}

/// A change set that says nothing about the stack as it is: an error where the reader
/// waits for its change set within one call (the look is retried and makes another).
fn obsolete() -> AwsError {
    AwsError {
        operation: "DescribeChangeSet",
        code: Some("OBSOLETE".into()),
        message: "the change set was made before the stack was updated again".into(),
    }
}

impl CloudFormation {
    /// Creates the preview's change set; `Ok(None)` when one by that name exists already
    /// (CreateChangeSet: AlreadyExistsException).
    async fn create_change_set(
        &self,
        plan: &UpdatePlan,
        name: &str,
    ) -> Result<Option<String>, AwsError> {
        let request = self
            .client
            .create_change_set()
            .stack_name(&plan.stack.id)
            .change_set_name(name)
            .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Update)
            .use_previous_template(true)
            .include_nested_stacks(true)
            .description(format!(
                "RotateToken preview: what the refresh's update would change (deleted after reading); inputs {}",
                plan.inputs_mark()
            ))
            .set_parameters(Some(parameters(plan)))
            .set_capabilities(Some(capabilities(plan)));
        match request.send().await {
            Ok(created) => Ok(Some(created.id().unwrap_or(name).to_string())),
            Err(e) if e.code() == Some("AlreadyExistsException") => Ok(None),
            Err(e) => Err(aws_error("CreateChangeSet", &e)),
        }
    }

    /// Creates the change set and reads it, waiting inside this call while CloudFormation
    /// creates it; the caller deletes it whatever happens. With
    /// `IncludeNestedStacks`, CloudFormation makes a change set for every nested stack the
    /// update reaches (a nested stack is always "Modify": its template is read again);
    /// their changes are read too, named `<nested stack's logical id>/<logical id>`
    /// ("Change sets for nested stacks", CloudFormation User Guide). Deleting the root
    /// change set deletes the nested ones.
    pub(super) async fn read_change_set(
        &self,
        plan: &UpdatePlan,
        name: &str,
    ) -> Result<Vec<PlannedChange>, AwsError> {
        let id = self
            .create_change_set(plan, name)
            .await?
            .unwrap_or_else(|| name.to_string());
        let mut changes = Vec::new();
        // Nested change sets still to read: (ARN, logical-id path prefix).
        let mut pending = vec![(id, String::new())];
        while let Some((change_set, prefix)) = pending.pop() {
            let read = self
                .changes_of(
                    &plan.stack.id,
                    &change_set,
                    &prefix,
                    &mut changes,
                    &mut pending,
                    None,
                )
                .await?;
            if !matches!(read, Readiness::Read) {
                return Err(obsolete());
            }
        }
        Ok(changes)
    }

    /// Begins a preview that a later look reads ([`Self::read_begun`]): no Lambda waits
    /// while CloudFormation creates the change set. `false`: it exists already.
    pub(super) async fn begin_change_set(
        &self,
        plan: &UpdatePlan,
        name: &str,
    ) -> Result<bool, AwsError> {
        Ok(self.create_change_set(plan, name).await?.is_some())
    }

    /// A begun preview, read once: still being created, missing, obsolete or failed (then
    /// deleted), or read (then the caller deletes it in the same look). A nested stack's
    /// change set, created with the root's, is ready when the root's is.
    pub(super) async fn read_begun(
        &self,
        stack_id: &str,
        name: &str,
    ) -> Result<PreviewRead, AwsError> {
        let mut changes = Vec::new();
        let mut pending = Vec::new();
        let mut description = String::new();
        let root = match self
            .changes_of(
                stack_id,
                name,
                "",
                &mut changes,
                &mut pending,
                Some(&mut description),
            )
            .await
        {
            Ok(root) => root,
            // DescribeChangeSet API reference, Errors: ChangeSetNotFound (HTTP 404).
            Err(e)
                if matches!(
                    e.code.as_deref(),
                    Some("ChangeSetNotFound" | "ChangeSetNotFoundException")
                ) =>
            {
                return Ok(PreviewRead::Missing)
            }
            Err(e) => return Err(self.deleted_after(stack_id, name, e).await),
        };
        match root {
            Readiness::NotYet(created_ms) => return Ok(PreviewRead::Pending { created_ms }),
            Readiness::Obsolete => {
                self.delete_change_set(stack_id, name).await?;
                return Ok(PreviewRead::Obsolete);
            }
            Readiness::Failed(reason) => {
                self.delete_change_set(stack_id, name).await?;
                return Ok(PreviewRead::Failed {
                    reason,
                    description,
                });
            }
            Readiness::Gone => return Ok(PreviewRead::Missing),
            Readiness::Read => {}
        }
        while let Some((change_set, prefix)) = pending.pop() {
            match self
                .changes_of(
                    stack_id,
                    &change_set,
                    &prefix,
                    &mut changes,
                    &mut pending,
                    None,
                )
                .await
            {
                Ok(Readiness::Read) => {}
                // A nested stack updated since (directly, not through its root): the whole
                // preview is obsolete.
                Ok(_) => {
                    self.delete_change_set(stack_id, name).await?;
                    return Ok(PreviewRead::Obsolete);
                }
                Err(e) => return Err(self.deleted_after(stack_id, name, e).await),
            }
        }
        Ok(PreviewRead::Ready {
            changes,
            description,
        })
    }

    /// Never leaves a change set behind after a read failed: deleted, the read's error kept.
    async fn deleted_after(&self, stack_id: &str, name: &str, error: AwsError) -> AwsError {
        if let Err(e) = self.delete_change_set(stack_id, name).await {
            tracing::warn!(stack = %stack_id, change_set = %name, error = %e, "the preview's change set could not be deleted");
        }
        error
    }

    /// One change set's changes (all pages, once it is ready); nested stacks' change sets
    /// are queued on `pending` instead of being listed themselves. With `description` (a
    /// begun preview's root), its description is kept, and one still being created (or
    /// deleted) is [`Readiness::NotYet`] (with its creation time) and one CloudFormation failed to create
    /// [`Readiness::Failed`] at once; without, this call waits while CloudFormation creates
    /// it, and a failure is an error.
    async fn changes_of(
        &self,
        stack_id: &str,
        change_set: &str,
        prefix: &str,
        changes: &mut Vec<PlannedChange>,
        pending: &mut Vec<(String, String)>,
        mut description: Option<&mut String>,
    ) -> Result<Readiness, AwsError> {
        let patient = description.is_none();
        let mut token: Option<String> = None;
        let started = tokio::time::Instant::now();
        let mut first = true;
        loop {
            // CloudFormation takes seconds to create a change set (DescribeChangeSet:
            // CREATE_PENDING, CREATE_IN_PROGRESS; field reports from a few seconds to a
            // minute, cloudtools/stacker#389, acquia/moonshot#213), and every look is a
            // DescribeChangeSet call on the account-region's shared rate: the first after a
            // second, then every two (the SAM CLI waits 5 s between its looks), at most
            // about a minute in all. A nested stack's, created with the root's, is ready
            // when the root's is: looked at once.
            if std::mem::take(&mut first) && prefix.is_empty() && patient {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            let out = self
                .client
                .describe_change_set()
                // A name is the stack's; an id (a nested stack's change set) names itself.
                .set_stack_name((!change_set.starts_with("arn:")).then(|| stack_id.to_string()))
                .change_set_name(change_set)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| aws_error("DescribeChangeSet", &e))?;
            let status = out.status().map(|s| s.as_str()).unwrap_or_default();
            if let (None, Some(kept)) = (&token, description.as_deref_mut()) {
                *kept = out.description().unwrap_or_default().to_string();
            }
            match status {
                "CREATE_PENDING" | "CREATE_IN_PROGRESS" if !patient => {
                    return Ok(Readiness::NotYet(created_ms(&out)))
                }
                // Being deleted (one made before, then found obsolete, under the same name):
                // gone by a later look.
                "DELETE_COMPLETE" if !patient => return Ok(Readiness::Gone),
                "DELETE_FAILED" if !patient => {
                    let reason = out.status_reason().unwrap_or("it could not be deleted");
                    return Ok(Readiness::Failed(reason.to_string()));
                }
                s if !patient && s.starts_with("DELETE_") => {
                    return Ok(Readiness::NotYet(created_ms(&out)))
                }
                "CREATE_PENDING" | "CREATE_IN_PROGRESS"
                    if started.elapsed() < CHANGE_SET_PATIENCE =>
                {
                    let next = std::time::Duration::from_secs(2);
                    tokio::time::sleep(next).await;
                    continue;
                }
                // Made before the stack was updated again: "a change set might be ... in an
                // OBSOLETE state because the stack was already updated" (ChangeSetSummary,
                // ExecutionStatus, API reference). Its changes are against a stack that is
                // gone.
                "CREATE_COMPLETE"
                    if out.execution_status()
                        == Some(&aws_sdk_cloudformation::types::ExecutionStatus::Obsolete) =>
                {
                    return Ok(Readiness::Obsolete)
                }
                "CREATE_COMPLETE" => {}
                // The same inputs would change nothing at all.
                "FAILED"
                    if out.status_reason().is_some_and(|r| {
                        r.contains("didn't contain changes") || r.contains("No updates")
                    }) =>
                {
                    return Ok(Readiness::Read);
                }
                "FAILED" if !patient => {
                    let reason = out.status_reason().unwrap_or("no reason given");
                    return Ok(Readiness::Failed(reason.to_string()));
                }
                other => {
                    return Err(AwsError {
                        operation: "DescribeChangeSet",
                        code: Some(other.to_string()),
                        message: out
                            .status_reason()
                            .unwrap_or("change set not ready")
                            .to_string(),
                    })
                }
            }
            for c in out.changes() {
                let Some(rc) = c.resource_change() else {
                    continue;
                };
                let logical_id =
                    format!("{prefix}{}", rc.logical_resource_id().unwrap_or_default());
                if let Some(nested) = rc.change_set_id().filter(|id| !id.is_empty()) {
                    pending.push((nested.to_string(), format!("{logical_id}/")));
                    continue;
                }
                changes.push(PlannedChange {
                    action: rc
                        .action()
                        .map(|a| a.as_str().to_string())
                        .unwrap_or_default(),
                    logical_id,
                    resource_type: rc.resource_type().unwrap_or_default().to_string(),
                    replacement: rc.replacement().map(|r| r.as_str().to_string()),
                    causes: rc
                        .details()
                        .iter()
                        .filter_map(|d| d.causing_entity().map(str::to_string))
                        .collect(),
                    recreates: recreated_properties(rc),
                });
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(Readiness::Read);
            }
        }
    }

    /// Deletes the preview's change set. CloudFormation refuses to delete one it is still
    /// creating (DeleteChangeSet: InvalidChangeSetStatus), as after a look at it failed
    /// early: asked again every 2 s for at most [`DELETE_PATIENCE`] (after the preview's own
    /// patience ran out the change set is likely still being created: a warning, not a
    /// Lambda held another minute).
    pub(super) async fn delete_change_set(
        &self,
        stack_id: &str,
        name: &str,
    ) -> Result<(), AwsError> {
        let started = tokio::time::Instant::now();
        loop {
            match self
                .client
                .delete_change_set()
                .stack_name(stack_id)
                .change_set_name(name)
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e)
                    if e.code() == Some("InvalidChangeSetStatus")
                        && started.elapsed() < DELETE_PATIENCE =>
                {
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                Err(e) => return Err(aws_error("DeleteChangeSet", &e)),
            }
        }
    }
}
