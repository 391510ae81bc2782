//! CloudFormation adapter: discovery (DescribeStacks pages, GetTemplate) and the refresh
//! (DescribeStacks for one stack, UpdateStack).

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{Capability, Parameter, Stack, StackEvent, TemplateStage};
use aws_sdk_cloudformation::Client;

use super::aws_error;
use crate::domain::model::{
    FailedResource, OperationSeen, ParameterValue, PlannedChange, PreviewRead, StackParameter,
    StackRef, StackSnapshot, UpdatePlan, NESTED_STACK_TYPE,
};
use crate::ports::{
    AwsError, NestedStack, StackDirectory, StackResource, StackUpdater, UpdateStart,
};

mod change_sets;

#[derive(Clone)]
pub struct CloudFormation {
    client: Client,
    /// The first page of a stack's events, kept from the first read after the stack was
    /// last updated by this process: one look at a stack asks its events several questions
    /// (did our phase one happen? how did our update end? which resources failed in it?),
    /// each answered from one DescribeStackEvents. Events are only ever added. A page read
    /// after the last DescribeStacks is as new as the snapshot every decision is made from;
    /// one read before it answers only what cannot have changed since: an operation of ours
    /// that had already ended (its last stack event is final), and the resources that failed
    /// in an update that had ended. Anything else is read again.
    first_events: std::sync::Arc<std::sync::Mutex<EventPages>>,
}

/// A kept first page: its events, the next page's token, and whether the stack has been
/// described since it was read.
#[derive(Clone)]
struct KeptPage {
    events: Vec<StackEvent>,
    next: Option<String>,
    before_describe: bool,
}

type EventPages = std::collections::HashMap<String, KeptPage>;

impl CloudFormation {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let config = aws_sdk_cloudformation::config::Builder::from(config)
            .interceptor(super::retries::RetryCounter)
            .interceptor(super::retries::ThrottleCounter)
            .build();
        Self {
            client: Client::from_conf(config),
            first_events: Default::default(),
        }
    }

    /// One page of the stack's events, newest first, and the token of the next one; the
    /// first page from what this look already read, if it did and if `still_true` holds of
    /// it where it was read before the stack was last described.
    async fn event_page(
        &self,
        stack_id: &str,
        page_token: Option<String>,
        still_true: &(dyn Fn(&[StackEvent]) -> bool + Sync),
    ) -> Result<(Vec<StackEvent>, Option<String>), AwsError> {
        let first = page_token.is_none();
        if first {
            if let Some(kept) = self.cached_events(stack_id) {
                if !kept.before_describe || still_true(&kept.events) {
                    return Ok((kept.events, kept.next));
                }
            }
        }
        let out = self
            .client
            .describe_stack_events()
            .stack_name(stack_id)
            .set_next_token(page_token)
            .send()
            .await
            .map_err(|e| aws_error("DescribeStackEvents", &e))?;
        let page = (
            out.stack_events().to_vec(),
            out.next_token().map(str::to_string),
        );
        if first {
            if let Ok(mut kept) = self.first_events.lock() {
                kept.insert(
                    stack_id.to_string(),
                    KeptPage {
                        events: page.0.clone(),
                        next: page.1.clone(),
                        before_describe: false,
                    },
                );
            }
        }
        Ok(page)
    }

    fn cached_events(&self, stack_id: &str) -> Option<KeptPage> {
        self.first_events.lock().ok()?.get(stack_id).cloned()
    }

    /// The stack was updated: its events are read anew.
    fn forget_events(&self, stack_id: &str) {
        if let Ok(mut kept) = self.first_events.lock() {
            kept.remove(stack_id);
        }
    }

    /// The stack was described: its kept events are older than the snapshot now.
    fn age_events(&self, stack_id: &str) {
        if let Ok(mut kept) = self.first_events.lock() {
            if let Some(page) = kept.get_mut(stack_id) {
                page.before_describe = true;
            }
        }
    }
}

/// The stack's own event (not a resource's).
fn is_stack_event(e: &StackEvent, stack_id: &str) -> bool {
    e.resource_type() == Some(NESTED_STACK_TYPE) && e.physical_resource_id() == Some(stack_id)
}

/// A status no later event of the same operation follows: the operation had ended.
fn is_final(e: &StackEvent) -> bool {
    e.resource_status()
        .is_some_and(|s| !s.as_str().ends_with("_IN_PROGRESS"))
}

/// Whether our operation `token` had ended when `events` (newest first) were read: its
/// newest stack event is final.
fn had_ended(events: &[StackEvent], stack_id: &str, token: &str) -> bool {
    events
        .iter()
        .find(|e| is_stack_event(e, stack_id) && e.client_request_token() == Some(token))
        .is_some_and(is_final)
}

/// Whether the stack was at rest when `events` (newest first) were read: its newest stack
/// event is final, so every event of the operation it last ended was written.
fn was_at_rest(events: &[StackEvent], stack_id: &str) -> bool {
    events
        .iter()
        .find(|e| is_stack_event(e, stack_id))
        .is_some_and(is_final)
}

fn does_not_exist(e: &AwsError) -> bool {
    e.code.as_deref() == Some("ValidationError") && e.message.contains("does not exist")
}

/// The plan's parameters as CloudFormation takes them: the token's value, every other
/// parameter `UsePreviousValue`. The same for the update and for its preview.
fn parameters(plan: &UpdatePlan) -> Vec<Parameter> {
    plan.parameters
        .iter()
        .map(|(key, value)| {
            let p = Parameter::builder().parameter_key(key);
            match value {
                ParameterValue::UsePrevious => p.use_previous_value(true).build(),
                ParameterValue::Value(v) => p.parameter_value(v).build(),
            }
        })
        .collect()
}

/// The properties a change names as requiring recreation (Always or Conditionally), once
/// each, in order.
fn recreated_properties(rc: &aws_sdk_cloudformation::types::ResourceChange) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for target in rc.details().iter().filter_map(|d| d.target()) {
        let recreates = target
            .requires_recreation()
            .is_some_and(|r| r.as_str() != "Never");
        if let Some(name) = target.name().filter(|_| recreates) {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
    names
}

fn capabilities(plan: &UpdatePlan) -> Vec<Capability> {
    plan.capabilities
        .iter()
        .map(|c| Capability::from(c.as_str()))
        .collect()
}

fn snapshot(stack: &Stack) -> Result<StackSnapshot, AwsError> {
    let id = stack.stack_id().unwrap_or_default();
    let stack_ref = StackRef::from_stack_id(id).map_err(|e| AwsError {
        operation: "DescribeStacks",
        code: None,
        message: e.to_string(),
    })?;
    Ok(StackSnapshot {
        stack: stack_ref,
        status: stack
            .stack_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        status_reason: stack.stack_status_reason().map(str::to_string),
        parameters: stack
            .parameters()
            .iter()
            .filter_map(|p| {
                p.parameter_key().map(|k| StackParameter {
                    key: k.to_string(),
                    value: p.parameter_value().map(str::to_string),
                })
            })
            .collect(),
        capabilities: stack
            .capabilities()
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        parent_id: stack.parent_id().map(str::to_string),
        root_id: stack.root_id().map(str::to_string),
        tags: stack
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
        rollback_monitoring_minutes: stack
            .rollback_configuration()
            .and_then(|r| r.monitoring_time_in_minutes())
            .unwrap_or(0)
            .clamp(0, 180) as u32,
        service_role: stack.role_arn().map(str::to_string),
        last_changed_ms: stack
            .last_updated_time()
            .or(stack.creation_time())
            .and_then(|t| t.to_millis().ok())
            .map(|ms| ms.max(0) as u64),
    })
}

impl StackDirectory for CloudFormation {
    async fn list_stacks(&self) -> Result<Vec<StackSnapshot>, AwsError> {
        // DescribeStacks without a name lists every live stack, 50 a page, with the
        // parameters we select on: one call per page instead of one per stack.
        let stacks: Vec<Stack> = self
            .client
            .describe_stacks()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("DescribeStacks", &e))?;
        stacks.iter().map(snapshot).collect()
    }

    async fn template_body(&self, stack: &StackRef) -> Result<String, AwsError> {
        let out = self
            .client
            .get_template()
            .stack_name(&stack.id)
            // After transforms (SAM...): the resources CloudFormation really manages. The
            // same as `Original` for templates without transforms.
            .template_stage(TemplateStage::Processed)
            .send()
            .await
            .map_err(|e| aws_error("GetTemplate", &e))?;
        Ok(out.template_body().unwrap_or_default().to_string())
    }

    async fn stack_policy(&self, stack: &StackRef) -> Result<Option<String>, AwsError> {
        self.get_stack_policy(stack).await
    }

    async fn nested_stacks(&self, stack: &StackRef) -> Result<Vec<NestedStack>, AwsError> {
        Ok(self
            .list_stack_resources(stack)
            .await?
            .iter()
            .filter(|r| r.resource_type() == Some(NESTED_STACK_TYPE))
            // A nested stack's physical id is its stack id (ARN); one still being created
            // or already deleted has none worth following.
            .filter_map(|r| {
                let child = StackRef::from_stack_id(r.physical_resource_id()?).ok()?;
                Some(NestedStack {
                    logical_id: r.logical_resource_id()?.to_string(),
                    stack: child,
                })
            })
            .collect())
    }

    async fn resources(&self, stack: &StackRef) -> Result<Vec<StackResource>, AwsError> {
        Ok(self
            .list_stack_resources(stack)
            .await?
            .iter()
            .map(|r| StackResource {
                logical_id: r.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: r.resource_type().unwrap_or_default().to_string(),
                status: r
                    .resource_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                updated_ms: r
                    .last_updated_timestamp()
                    .and_then(|d| d.to_millis().ok())
                    .map(|ms| ms.max(0) as u64)
                    .unwrap_or_default(),
            })
            .collect())
    }
}

impl CloudFormation {
    /// Every resource of the stack, all pages (ListStackResources).
    async fn list_stack_resources(
        &self,
        stack: &StackRef,
    ) -> Result<Vec<aws_sdk_cloudformation::types::StackResourceSummary>, AwsError> {
        self.client
            .list_stack_resources()
            .stack_name(&stack.id)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListStackResources", &e))
    }

    async fn get_stack_policy(&self, stack: &StackRef) -> Result<Option<String>, AwsError> {
        let out = self
            .client
            .get_stack_policy()
            .stack_name(&stack.id)
            .send()
            .await
            .map_err(|e| aws_error("GetStackPolicy", &e))?;
        Ok(out
            .stack_policy_body()
            .filter(|b| !b.trim().is_empty())
            .map(str::to_string))
    }
}

impl StackUpdater for CloudFormation {
    async fn preview(&self, plan: &UpdatePlan) -> Result<Vec<PlannedChange>, AwsError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name = format!("rotatetoken-preview-{nanos}");
        let result = self.read_change_set(plan, &name).await;
        // Never leave a change set behind, whatever happened above.
        if let Err(e) = self.delete_change_set(&plan.stack.id, &name).await {
            if result.is_ok() {
                return Err(e);
            }
            tracing::warn!(stack = %plan.stack.id, change_set = %name, error = %e, "the preview's change set could not be deleted");
        }
        result
    }

    async fn begin_preview(&self, plan: &UpdatePlan, name: &str) -> Result<bool, AwsError> {
        self.begin_change_set(plan, name).await
    }

    async fn read_preview(&self, stack: &StackRef, name: &str) -> Result<PreviewRead, AwsError> {
        self.read_begun(&stack.id, name).await
    }

    async fn delete_preview(&self, stack: &StackRef, name: &str) -> Result<(), AwsError> {
        match self.delete_change_set(&stack.id, name).await {
            // DeleteChangeSet API reference, Errors: ChangeSetNotFound (HTTP 404).
            Err(e)
                if matches!(
                    e.code.as_deref(),
                    Some("ChangeSetNotFound" | "ChangeSetNotFoundException")
                ) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    async fn drop_preview(&self, stack: &StackRef, name: &str) {
        match self.delete_change_set(&stack.id, name).await {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.code.as_deref(),
                    Some("ChangeSetNotFound" | "ChangeSetNotFoundException")
                ) => {}
            Err(e) => {
                tracing::warn!(stack = %stack.id, change_set = %name, error = %e, "the preview's change set could not be deleted")
            }
        }
    }

    async fn describe(&self, stack: &StackRef) -> Result<Option<StackSnapshot>, AwsError> {
        self.age_events(&stack.id);
        match self
            .client
            .describe_stacks()
            .stack_name(&stack.id)
            .send()
            .await
        {
            Ok(out) => match out.stacks().first() {
                Some(s) if s.stack_status().map(|st| st.as_str()) == Some("DELETE_COMPLETE") => {
                    Ok(None)
                }
                Some(s) => snapshot(s).map(Some),
                None => Ok(None),
            },
            Err(e)
                if e.code() == Some("ValidationError")
                    && e.message().is_some_and(|m| m.contains("does not exist")) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws_error("DescribeStacks", &e)),
        }
    }

    async fn failed_resources(&self, stack: &StackRef) -> Result<Vec<FailedResource>, AwsError> {
        // Newest first, back to the stack's own UPDATE_IN_PROGRESS that began the update.
        // A page read before the stack was described answers if the stack was at rest then:
        // every event of the update it last ended was already written.
        let at_rest = |events: &[StackEvent]| was_at_rest(events, &stack.id);
        let mut found = Vec::new();
        let mut page_token = None;
        loop {
            let (events, next) = self.event_page(&stack.id, page_token, &at_rest).await?;
            for e in &events {
                let status = e.resource_status().map(|s| s.as_str()).unwrap_or_default();
                let is_stack = is_stack_event(e, &stack.id);
                if is_stack && status == "UPDATE_IN_PROGRESS" {
                    return Ok(found);
                }
                if !is_stack && status.ends_with("_FAILED") {
                    found.push(FailedResource {
                        logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
                        physical_id: e.physical_resource_id().unwrap_or_default().to_string(),
                        status: status.to_string(),
                        reason: e.resource_status_reason().unwrap_or_default().to_string(),
                    });
                }
            }
            match next {
                Some(next) => page_token = Some(next),
                None => return Ok(found),
            }
        }
    }

    async fn operation(
        &self,
        stack: &StackRef,
        token: &str,
        since_ms: u64,
    ) -> Result<Option<OperationSeen>, AwsError> {
        // Newest first: the first stack-level event with our token is where the operation
        // stands. Events older than the run (less a margin for clocks) cannot be ours.
        let horizon = since_ms.saturating_sub(15 * 60 * 1000);
        // A page read before the stack was described answers if our operation had ended
        // in it: its last stack event is final.
        let ended = |events: &[StackEvent]| had_ended(events, &stack.id, token);
        let mut page_token = None;
        loop {
            let (events, next) = match self.event_page(&stack.id, page_token, &ended).await {
                Ok(page) => page,
                // A stack that no longer exists has no operation of ours to continue (the
                // refresh then finds it gone): AWS answers ValidationError "... does not exist".
                Err(e) if does_not_exist(&e) => return Ok(None),
                Err(e) => return Err(e),
            };
            for e in &events {
                let at = e
                    .timestamp()
                    .map(|t| t.to_millis().unwrap_or_default())
                    .unwrap_or_default();
                if at > 0 && (at as u64) < horizon {
                    return Ok(None);
                }
                if is_stack_event(e, &stack.id) && e.client_request_token() == Some(token) {
                    return Ok(Some(OperationSeen {
                        status: e
                            .resource_status()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                    }));
                }
            }
            match next {
                Some(next) => page_token = Some(next),
                None => return Ok(None),
            }
        }
    }

    async fn concurrent_resources_limit(&self) -> Result<Option<u32>, AwsError> {
        let mut page_token = None;
        loop {
            let out = self
                .client
                .describe_account_limits()
                .set_next_token(page_token)
                .send()
                .await
                .map_err(|e| aws_error("DescribeAccountLimits", &e))?;
            let limit = out
                .account_limits()
                .iter()
                .find(|l| l.name() == Some("ConcurrentResourcesLimit"))
                .and_then(|l| l.value())
                .and_then(|v| u32::try_from(v).ok());
            match (limit, out.next_token()) {
                (Some(limit), _) => return Ok(Some(limit)),
                (None, Some(next)) => page_token = Some(next.to_string()),
                (None, None) => return Ok(None),
            }
        }
    }

    async fn update(&self, plan: &UpdatePlan) -> Result<UpdateStart, AwsError> {
        self.forget_events(&plan.stack.id);
        let request = self
            .client
            .update_stack()
            .stack_name(&plan.stack.id)
            .use_previous_template(true)
            .set_parameters(Some(parameters(plan)))
            .set_capabilities(Some(capabilities(plan)))
            .set_client_request_token(plan.request_token.clone());
        match request.send().await {
            Ok(_) => Ok(UpdateStart::Started),
            Err(e) => {
                let message = e.message().unwrap_or_default().to_string();
                match e.code() {
                    // Our token is already on the stack: the SDK retried a call that had
                    // reached CloudFormation, or an earlier invocation sent it (UpdateStack
                    // API reference, Errors: TokenAlreadyExists).
                    Some("TokenAlreadyExistsException") => Ok(UpdateStart::AlreadyOurs),
                    Some("ValidationError")
                        if message.contains("No updates are to be performed") =>
                    {
                        Ok(UpdateStart::NoChange)
                    }
                    Some("ValidationError")
                        if message.contains("can not be updated")
                            || message.contains("cannot be updated")
                                && message.contains("IN_PROGRESS") =>
                    {
                        Ok(UpdateStart::Busy(message))
                    }
                    Some(
                        "ValidationError"
                        | "InsufficientCapabilitiesException"
                        | "AccessDenied"
                        | "AccessDeniedException",
                    ) => Ok(UpdateStart::Refused(format!(
                        "{}: {message}",
                        e.code().unwrap_or_default()
                    ))),
                    _ => Err(aws_error("UpdateStack", &e)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::types::ResourceStatus;

    const STACK: &str = "arn:aws:cloudformation:eu-west-1:111111111111:stack/api/1";

    fn stack_event(status: &str, token: &str) -> StackEvent {
        StackEvent::builder()
            .resource_type(NESTED_STACK_TYPE)
            .physical_resource_id(STACK)
            .resource_status(ResourceStatus::from(status))
            .client_request_token(token)
            .build()
    }

    fn resource_event(status: &str, token: &str) -> StackEvent {
        StackEvent::builder()
            .resource_type("AWS::SSM::Parameter")
            .physical_resource_id("param")
            .resource_status(ResourceStatus::from(status))
            .client_request_token(token)
            .build()
    }

    #[test]
    fn a_page_read_before_the_describe_answers_for_our_update_only_once_it_had_ended() {
        let ended = [
            stack_event("UPDATE_COMPLETE", "ours"),
            stack_event("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "ours"),
            resource_event("DELETE_COMPLETE", "ours"),
            stack_event("UPDATE_IN_PROGRESS", "ours"),
        ];
        assert!(had_ended(&ended, STACK, "ours"));
        assert!(had_ended(
            &[stack_event("UPDATE_ROLLBACK_COMPLETE", "ours")],
            STACK,
            "ours"
        ));
        // Still cleaning up, still running, or not seen at all: read again.
        assert!(!had_ended(&ended[1..], STACK, "ours"));
        assert!(!had_ended(&ended[3..], STACK, "ours"));
        assert!(!had_ended(&ended, STACK, "another"));
        // A resource's final event is not the operation's end.
        assert!(!had_ended(&ended[2..], STACK, "ours"));
        // Another stack's events (a nested stack's, in the root's) are not this one's.
        assert!(!had_ended(
            &ended,
            "arn:aws:cloudformation:eu-west-1:111111111111:stack/other/2",
            "ours"
        ));
    }

    #[test]
    fn a_page_read_before_the_describe_lists_failed_resources_only_of_a_stack_at_rest() {
        let at_rest = [
            stack_event("UPDATE_COMPLETE", "ours"),
            resource_event("DELETE_FAILED", "ours"),
            stack_event("UPDATE_IN_PROGRESS", "ours"),
        ];
        assert!(was_at_rest(&at_rest, STACK));
        assert!(!was_at_rest(&at_rest[1..], STACK));
        assert!(!was_at_rest(
            &[stack_event("UPDATE_IN_PROGRESS", "someone's")],
            STACK
        ));
        assert!(!was_at_rest(&[], STACK));
    }
}
