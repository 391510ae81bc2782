//! The small traits through which the domain reaches AWS. One adapter per service lives in
//! [`crate::aws`]; tests of the domain use in-memory implementations.

use std::future::Future;

use thiserror::Error;

use crate::domain::model::{
    FailedResource, OperationSeen, PlannedChange, PreviewRead, Replication, SecretVersions,
    StackRef, StackSnapshot, Target, UpdatePlan,
};

/// An AWS call that failed after the SDK's own retries.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{operation} failed{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct AwsError {
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
}

/// How CloudFormation answered an update request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateStart {
    /// Accepted; the stack is now updating.
    Started,
    /// "No updates are to be performed": the stack already has the requested value.
    NoChange,
    /// Another operation is running on the stack; try again when it ends.
    Busy(String),
    /// CloudFormation already has an operation with this request token: ours, accepted
    /// before (a retried call or invocation). Its progress is the stack's.
    AlreadyOurs,
    /// Refused for good (validation error, missing capability, access denied...).
    Refused(String),
}

/// Discovery's view of CloudFormation.
pub trait StackDirectory {
    /// Every stack in the target, all pages.
    fn list_stacks(&self) -> impl Future<Output = Result<Vec<StackSnapshot>, AwsError>> + Send;
    /// The stack's template as CloudFormation processed it (after transforms).
    fn template_body(
        &self,
        stack: &StackRef,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// The stack policy's body; `None` when the stack has none.
    fn stack_policy(
        &self,
        stack: &StackRef,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// The stack's `AWS::CloudFormation::Stack` resources that exist now (ListStackResources).
    fn nested_stacks(
        &self,
        stack: &StackRef,
    ) -> impl Future<Output = Result<Vec<NestedStack>, AwsError>> + Send;
    /// Every resource the stack holds now, with when CloudFormation last acted on it
    /// (ListStackResources): the freshness audit's evidence.
    fn resources(
        &self,
        stack: &StackRef,
    ) -> impl Future<Output = Result<Vec<StackResource>, AwsError>> + Send;
}

/// A resource as ListStackResources reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackResource {
    pub logical_id: String,
    pub resource_type: String,
    /// `CREATE_COMPLETE`, `UPDATE_COMPLETE`, `UPDATE_FAILED`...
    pub status: String,
    /// `LastUpdatedTimestamp` ("time the status was updated"), epoch milliseconds.
    pub updated_ms: u64,
}

/// A nested stack as its parent lists it: the resource's logical id in the parent's
/// template, and the child stack (its physical id is the child's stack id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NestedStack {
    pub logical_id: String,
    pub stack: StackRef,
}

/// Access to CloudFormation in one target account and region (assuming the target role
/// there, or with the pipeline's own credentials for its own account).
pub trait TargetAccess {
    type Stacks: StackDirectory + StackUpdater + Send + Sync;
    fn open(
        &self,
        target: &Target,
        session: &str,
    ) -> impl Future<Output = Result<Self::Stacks, AwsError>> + Send;
}

/// The organisation's accounts, for deployments that name organisational units.
pub trait AccountDirectory {
    /// The active accounts under a root or OU, its child OUs included.
    fn active_accounts(
        &self,
        root_or_ou: &str,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
}

/// No organisational units configured: nothing to list (and no Organizations client).
pub struct NoOrganization;

impl AccountDirectory for NoOrganization {
    async fn active_accounts(&self, root_or_ou: &str) -> Result<Vec<String>, AwsError> {
        Err(AwsError {
            operation: "ListAccountsForParent",
            code: None,
            message: format!("{root_or_ou}: no organisation access configured"),
        })
    }
}

/// The refresh function's view of CloudFormation.
pub trait StackUpdater {
    /// `None` when the stack no longer exists.
    fn describe(
        &self,
        stack: &StackRef,
    ) -> impl Future<Output = Result<Option<StackSnapshot>, AwsError>> + Send;
    fn update(
        &self,
        plan: &UpdatePlan,
    ) -> impl Future<Output = Result<UpdateStart, AwsError>> + Send;
    /// What CloudFormation would do for this update: a change set with the same inputs,
    /// read, then deleted (also when reading it fails). Changes nothing.
    fn preview(
        &self,
        plan: &UpdatePlan,
    ) -> impl Future<Output = Result<Vec<PlannedChange>, AwsError>> + Send;
    /// Begins [`Self::preview`] without waiting for it: creates the change set `name`
    /// (CloudFormation takes seconds to make it) and returns. `Ok(false)`: one by that name
    /// exists already (a look retried after it began it). Changes nothing.
    fn begin_preview(
        &self,
        plan: &UpdatePlan,
        name: &str,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// The preview `name` begun by an earlier look, read once without waiting; an obsolete
    /// or failed one is deleted once read, a ready one is left for the caller to delete in
    /// the same look ([`Self::delete_preview`]). Changes nothing else.
    fn read_preview(
        &self,
        stack: &StackRef,
        name: &str,
    ) -> impl Future<Output = Result<PreviewRead, AwsError>> + Send;
    /// Deletes a begun preview that no look will read (its stack ended otherwise). Best
    /// effort: a failure is logged, never the stack's outcome.
    fn drop_preview(&self, stack: &StackRef, name: &str) -> impl Future<Output = ()> + Send;
    /// Deletes a preview this look read ([`Self::read_preview`]): one already gone is
    /// deleted; a failure is the caller's to weigh (a change set no update made obsolete
    /// could still be executed).
    fn delete_preview(
        &self,
        stack: &StackRef,
        name: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Resources the stack's latest update failed (`*_FAILED` events since that update
    /// began): a `DELETE_FAILED` one lives on outside the stack; a `CREATE_FAILED` or
    /// `UPDATE_FAILED` one says why the update rolled back.
    fn failed_resources(
        &self,
        stack: &StackRef,
    ) -> impl Future<Output = Result<Vec<FailedResource>, AwsError>> + Send;
    /// The operation this token started on the stack, as its events show it; `None` when no
    /// event carries the token (the update was never accepted). Reads back no further than
    /// `since_ms` (epoch ms): our operations are this run's.
    fn operation(
        &self,
        stack: &StackRef,
        token: &str,
        since_ms: u64,
    ) -> impl Future<Output = Result<Option<OperationSeen>, AwsError>> + Send;
    /// The account-region's `ConcurrentResourcesLimit` (DescribeAccountLimits); `None`
    /// when CloudFormation does not say.
    fn concurrent_resources_limit(
        &self,
    ) -> impl Future<Output = Result<Option<u32>, AwsError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    Started {
        execution_arn: String,
    },
    /// An execution with this name already exists: this delivery is a duplicate.
    AlreadyExists,
}

/// An execution that already has a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExistingExecution {
    pub running: bool,
    /// Epoch milliseconds.
    pub started_ms: u64,
}

/// Step Functions, as the trigger uses it.
pub trait ExecutionStarter {
    /// The state machine whose runs this starts (its own configuration).
    fn state_machine_arn(&self) -> &str;
    fn start_execution(
        &self,
        name: &str,
        input: &str,
    ) -> impl Future<Output = Result<StartOutcome, AwsError>> + Send;
    /// The execution of this state machine with this name, if there is one.
    fn existing(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<ExistingExecution>, AwsError>> + Send;
}

/// Secrets Manager metadata (never values): a secret name's ARN, its labelled versions.
pub trait SecretDirectory {
    fn secret_arn(&self, secret_id: &str) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// Every secret of this account and region (ListSecrets, all pages): the ARNs.
    fn secret_arns(&self) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
    /// The versions that carry staging labels, with their labels (DescribeSecret), asked of
    /// the secret's own region.
    fn versions(
        &self,
        secret_arn: &str,
    ) -> impl Future<Output = Result<SecretVersions, AwsError>> + Send;
    /// Where the secret is replicated (DescribeSecret `PrimaryRegion`, `ReplicationStatus`),
    /// asked of the secret's own region.
    fn replication(
        &self,
        secret_arn: &str,
    ) -> impl Future<Output = Result<Replication, AwsError>> + Send;
    /// When this version was created (ListSecretVersionIds `CreatedDate`, epoch ms);
    /// `None` when the secret has no such version.
    fn version_created(
        &self,
        secret_arn: &str,
        version_id: &str,
    ) -> impl Future<Output = Result<Option<u64>, AwsError>> + Send;
}

/// The AWS calls this process has retried so far (throttling, transient errors, after
/// which the call succeeded or failed for good). A use case reports the difference across
/// its invocation, so a run that healed such faults says so instead of hiding them.
pub trait RetryTally {
    fn retried_calls(&self) -> u64;
    /// Of the attempts, those a target account-region's CloudFormation refused as
    /// throttled: what narrows that account-region's lane.
    fn throttled_calls(&self) -> u64;
}

/// Where a run keeps what is too large for the state machine's payloads.
pub trait RunStore {
    fn bucket(&self) -> &str;
    fn put(&self, key: &str, body: Vec<u8>) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Vec<u8>, AwsError>> + Send;
    /// Whether this object exists in the store's own bucket (GetObject; NoSuchKey: no).
    fn exists(&self, key: &str) -> impl Future<Output = Result<bool, AwsError>> + Send;
}

/// Where the waiter keeps each waiting step's task token, and the ends it has seen, under
/// the stack's key in the runs bucket ([`crate::domain::waiting`]).
pub trait WaitBoard {
    fn keep(&self, key: &str, body: Vec<u8>) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The object, or None when there is none.
    fn find(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, AwsError>> + Send;
    /// The keys under a prefix.
    fn keys(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
    fn forget(&self, key: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// How Step Functions took a task token back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    /// The waiting task succeeded with it.
    Delivered,
    /// The task no longer waits (it timed out, its execution ended, or the token was
    /// already used): nothing to wake.
    Gone,
}

/// Step Functions' callback API: a waiting task's token sent back.
pub trait TaskCallbacks {
    fn succeed(
        &self,
        task_token: &str,
        output: &str,
    ) -> impl Future<Output = Result<Callback, AwsError>> + Send;
}

/// No run files (a local invoke without `RUNS_BUCKET`): the type of an absent store, whose
/// calls all fail, since nothing may be read from or kept in a store that is not there.
pub struct NoRunFiles;

impl RunStore for NoRunFiles {
    fn bucket(&self) -> &str {
        ""
    }
    async fn put(&self, key: &str, _: Vec<u8>) -> Result<(), AwsError> {
        Err(no_run_files("PutObject", key))
    }
    async fn get(&self, _: &str, key: &str) -> Result<Vec<u8>, AwsError> {
        Err(no_run_files("GetObject", key))
    }
    async fn exists(&self, key: &str) -> Result<bool, AwsError> {
        Err(no_run_files("GetObject", key))
    }
}

impl LockStore for NoRunFiles {
    async fn read(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, AwsError> {
        Err(no_run_files("GetObject", key))
    }
    async fn create(&self, key: &str, _: Vec<u8>) -> Result<bool, AwsError> {
        Err(no_run_files("PutObject", key))
    }
    async fn replace(&self, key: &str, _: Vec<u8>, _: &str) -> Result<bool, AwsError> {
        Err(no_run_files("PutObject", key))
    }
    async fn remove(&self, key: &str, _: &str) -> Result<bool, AwsError> {
        Err(no_run_files("DeleteObject", key))
    }
}

fn no_run_files(operation: &'static str, key: &str) -> AwsError {
    AwsError {
        operation,
        code: None,
        message: format!("{key}: no runs bucket configured (RUNS_BUCKET)"),
    }
}

/// A small document changed only by compare-and-swap (S3 conditional writes): the storm
/// control's per-secret lock. `false` means the condition did not hold (someone else changed
/// it first): read again and decide again.
pub trait LockStore {
    /// The document and its version tag, or None when there is none.
    fn read(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<(Vec<u8>, String)>, AwsError>> + Send;
    /// Creates it only if there is none.
    fn create(
        &self,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Replaces it only if it is still at `tag`.
    fn replace(
        &self,
        key: &str,
        body: Vec<u8>,
        tag: &str,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Deletes it only if it is still at `tag`.
    fn remove(&self, key: &str, tag: &str) -> impl Future<Output = Result<bool, AwsError>> + Send;
}

/// The account-region's share of CloudFormation's "resources in concurrent stack
/// operations" (`ConcurrentResourcesLimit`), claimed by a refresh right before its first
/// update ([`crate::domain::lanes::claim`]; the runs bucket's lane, `service::lane`).
pub trait ResourceBudget {
    /// `true`: the stack may begin an update changing `resources` resources now; `false`:
    /// the lane's begun stacks change too many at present (wait for a place).
    fn claim(
        &self,
        stack: &StackRef,
        resources: u32,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
}

/// No lanes (no run files: a local invoke, an in-process test): every claim granted.
pub struct Unbudgeted;

impl ResourceBudget for Unbudgeted {
    async fn claim(&self, _stack: &StackRef, _resources: u32) -> Result<bool, AwsError> {
        Ok(true)
    }
}

/// Where operators are told about runs (SNS).
pub trait Notifier {
    fn publish(
        &self,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// No alert topic configured (a local invoke): nothing is published.
pub struct NoNotifier;

impl Notifier for NoNotifier {
    async fn publish(&self, _: &str, _: &str) -> Result<(), AwsError> {
        Ok(())
    }
}

/// An alert topic that may not be configured (a local invoke): `None` publishes nothing.
impl<T: Notifier + Sync> Notifier for Option<T> {
    async fn publish(&self, subject: &str, message: &str) -> Result<(), AwsError> {
        match self {
            Some(topic) => topic.publish(subject, message).await,
            None => Ok(()),
        }
    }
}

/// Time, so the waiting logic can be tested without waiting.
pub trait Clock {
    fn now_ms(&self) -> u64;
    fn sleep_ms(&self, ms: u64) -> impl Future<Output = ()> + Send;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default()
    }

    fn sleep_ms(&self, ms: u64) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(std::time::Duration::from_millis(ms))
    }
}
