//! Phase one's preview: a change set with the update's inputs, created, read (with the
//! nested stacks' own) and deleted by the caller.

use super::*;

/// The longest a preview waits for CloudFormation to create its change set.
const CHANGE_SET_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);
/// The longest a preview waits to delete a change set CloudFormation is still creating.
const DELETE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

impl CloudFormation {
    /// Creates the change set and reads it; the caller deletes it whatever happens. With
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
        let request = self
            .client
            .create_change_set()
            .stack_name(&plan.stack.id)
            .change_set_name(name)
            .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Update)
            .use_previous_template(true)
            .include_nested_stacks(true)
            .description("RotateToken preview: what the refresh's update would change (deleted after reading)")
            .set_parameters(Some(parameters(plan)))
            .set_capabilities(Some(capabilities(plan)));
        let created = request
            .send()
            .await
            .map_err(|e| aws_error("CreateChangeSet", &e))?;
        let id = created.id().unwrap_or(name).to_string();
        let mut changes = Vec::new();
        // Nested change sets still to read: (ARN, logical-id path prefix).
        let mut pending = vec![(id, String::new())];
        while let Some((change_set, prefix)) = pending.pop() {
            self.changes_of(&change_set, &prefix, &mut changes, &mut pending)
                .await?;
        }
        Ok(changes)
    }

    /// One change set's changes (all pages, once it is ready); nested stacks' change sets
    /// are queued on `pending` instead of being listed themselves.
    async fn changes_of(
        &self,
        change_set: &str,
        prefix: &str,
        changes: &mut Vec<PlannedChange>,
        pending: &mut Vec<(String, String)>,
    ) -> Result<(), AwsError> {
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
            if std::mem::take(&mut first) && prefix.is_empty() {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            let out = self
                .client
                .describe_change_set()
                .change_set_name(change_set)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| aws_error("DescribeChangeSet", &e))?;
            let status = out.status().map(|s| s.as_str()).unwrap_or_default();
            match status {
                "CREATE_PENDING" | "CREATE_IN_PROGRESS"
                    if started.elapsed() < CHANGE_SET_PATIENCE =>
                {
                    let next = std::time::Duration::from_secs(2);
                    tokio::time::sleep(next).await;
                    continue;
                }
                "CREATE_COMPLETE" => {}
                // The same inputs would change nothing at all.
                "FAILED"
                    if out.status_reason().is_some_and(|r| {
                        r.contains("didn't contain changes") || r.contains("No updates")
                    }) =>
                {
                    return Ok(());
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
                return Ok(());
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
