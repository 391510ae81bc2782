//! In-memory fakes of the ports, for the crate's unit tests: one home, so a port that grows
//! a method grows it here once. (The integration tests in `tests/` use the real adapters
//! against the emulator instead.)

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::domain::model::{
    FailedResource, OperationSeen, ParameterValue, PlannedChange, PreviewRead, Replication,
    SecretVersions, StackParameter, StackRef, StackSnapshot, Target, UpdatePlan,
};
use crate::domain::planning::ACKNOWLEDGED_CAPABILITIES;
use crate::ports::{
    AwsError, Clock, LockStore, NestedStack, Notifier, RetryTally, RunStore, SecretDirectory,
    StackDirectory, StackResource, StackUpdater, TargetAccess, UpdateStart, WaitBoard,
};

/// A throttled call, after the SDK's own retries.
pub(crate) fn throttled(operation: &'static str) -> AwsError {
    AwsError {
        operation,
        code: Some("Throttling".into()),
        message: "Rate exceeded".into(),
    }
}

/// For tests that never read a secret's metadata (two-phase refreshes, discovery of
/// two-phase stacks).
pub(crate) struct NoSecrets;
impl SecretDirectory for NoSecrets {
    async fn secret_arn(&self, _: &str) -> Result<String, AwsError> {
        unreachable!("this test never looks a secret up by name")
    }
    async fn versions(&self, _: &str) -> Result<SecretVersions, AwsError> {
        unreachable!("this test never reads the secret's versions")
    }
    async fn replication(&self, _: &str) -> Result<Replication, AwsError> {
        Ok(Replication::default())
    }
    async fn secret_arns(&self) -> Result<Vec<String>, AwsError> {
        unreachable!("this test never lists secrets")
    }
    async fn version_created(&self, _: &str, _: &str) -> Result<Option<u64>, AwsError> {
        unreachable!("this test never audits")
    }
}

/// An in-memory CloudFormation stack whose updates take `update_polls` describes.
pub(crate) struct FakeStack {
    pub(crate) snapshot: Mutex<StackSnapshot>,
    pub(crate) pending: Mutex<Option<(u32, String, &'static str)>>, // polls left, value, final status
    pub(crate) update_polls: u32,
    /// Final status for an update setting the token to this value.
    pub(crate) fail_value: Option<(&'static str, &'static str)>,
    /// How many more times `fail_value` applies.
    pub(crate) fails_left: Mutex<u32>,
    /// Another execution's update lands right after ours: the token it leaves.
    pub(crate) overtaken_once: Mutex<Option<&'static str>>,
    /// What GetTemplate returns.
    pub(crate) template: &'static str,
    pub(crate) updates: Mutex<Vec<String>>,
    pub(crate) busy_refusals: Mutex<u32>,
    /// CloudFormation refuses updates setting the token to this value, with this message.
    pub(crate) refuse: Option<(&'static str, &'static str)>,
    /// A guarded resource whose deletion fails in phase one's cleanup.
    pub(crate) cleanup_failure: Option<&'static str>,
    /// The stack policy.
    pub(crate) policy: Option<&'static str>,
    /// What a change set for phase one shows.
    pub(crate) planned: Vec<PlannedChange>,
    /// DescribeStacks fails (throttled past the SDK's retries) after this many calls.
    pub(crate) describe_fails_after: Option<u32>,
    pub(crate) describes: Mutex<u32>,
    /// GetStackPolicy fails (throttled for good).
    pub(crate) policy_unreadable: bool,
    /// The request tokens of the updates CloudFormation accepted, with the status their
    /// events end in (`None`: the stack's status now).
    pub(crate) operations: Mutex<Vec<(String, Option<&'static str>)>>,
    /// Begun previews (change sets created, not yet read) by name, and the mark of the
    /// inputs each was made with.
    pub(crate) previews_begun: Mutex<Vec<(String, String)>>,
    /// When CloudFormation began creating a begun preview (its CreationTime).
    pub(crate) preview_created_ms: Option<u64>,
    /// CloudFormation fails to create a begun preview, with this reason.
    pub(crate) preview_failure: Option<&'static str>,
    /// Looks at a begun preview that find it still being created.
    pub(crate) preview_pending_reads: Mutex<u32>,
    /// DeleteChangeSet fails (throttled past the SDK's retries).
    pub(crate) preview_undeletable: bool,
}

impl FakeStack {
    pub(crate) fn new(status: &str, token: &str) -> Self {
        Self {
            snapshot: Mutex::new(StackSnapshot {
                stack: StackRef::from_stack_id(
                    "arn:aws:cloudformation:us-east-1:111111111111:stack/app/1",
                )
                .unwrap(),
                status: status.into(),
                status_reason: None,
                parameters: vec![
                    StackParameter {
                        key: "Env".into(),
                        value: Some("prod".into()),
                    },
                    StackParameter {
                        key: "RotateToken".into(),
                        value: Some(token.into()),
                    },
                ],
                capabilities: vec!["CAPABILITY_IAM".into()],
                parent_id: None,
                root_id: None,
                // A stack deployed with a service role, as `cdk deploy` does (its
                // cfn-exec role): the pipeline may update it by default.
                service_role: Some("arn:aws:iam::111111111111:role/app-deployer".into()),
                last_changed_ms: None,
                tags: vec![],
                rollback_monitoring_minutes: 0,
            }),
            pending: Mutex::new(None),
            update_polls: 2,
            fail_value: None,
            fails_left: Mutex::new(u32::MAX),
            overtaken_once: Mutex::new(None),
            template: SAFE_TEMPLATE,
            updates: Mutex::new(vec![]),
            busy_refusals: Mutex::new(0),
            refuse: None,
            cleanup_failure: None,
            policy: None,
            planned: vec![],
            describe_fails_after: None,
            describes: Mutex::new(0),
            policy_unreadable: false,
            operations: Mutex::new(vec![]),
            previews_begun: Mutex::new(vec![]),
            preview_failure: None,
            preview_created_ms: None,
            preview_pending_reads: Mutex::new(0),
            preview_undeletable: false,
        }
    }
    pub(crate) fn token(&self) -> String {
        self.snapshot
            .lock()
            .unwrap()
            .parameter("RotateToken")
            .unwrap()
            .value
            .clone()
            .unwrap()
    }
}

pub(crate) const SAFE_TEMPLATE: &str = "Conditions:\n  On: !Equals [!Ref RotateToken, 'true']\nResources:\n  Reader: {Type: AWS::SSM::Parameter, Condition: On}\n";
pub(crate) const TABLE_TEMPLATE: &str = "Conditions:\n  On: !Equals [!Ref RotateToken, 'true']\nResources:\n  Orders: {Type: AWS::DynamoDB::Table, Condition: On}\n";

impl StackDirectory for FakeStack {
    async fn list_stacks(&self) -> Result<Vec<StackSnapshot>, AwsError> {
        Ok(vec![self.snapshot.lock().unwrap().clone()])
    }
    async fn template_body(&self, _: &StackRef) -> Result<String, AwsError> {
        Ok(self.template.to_string())
    }
    async fn stack_policy(&self, _: &StackRef) -> Result<Option<String>, AwsError> {
        if self.policy_unreadable {
            return Err(throttled("GetStackPolicy"));
        }
        Ok(self.policy.map(str::to_string))
    }
    async fn nested_stacks(&self, _: &StackRef) -> Result<Vec<NestedStack>, AwsError> {
        Ok(vec![])
    }
    async fn resources(&self, _: &StackRef) -> Result<Vec<crate::ports::StackResource>, AwsError> {
        Ok(vec![])
    }
}

impl StackUpdater for FakeStack {
    async fn describe(&self, _: &StackRef) -> Result<Option<StackSnapshot>, AwsError> {
        {
            let mut calls = self.describes.lock().unwrap();
            *calls += 1;
            if self.describe_fails_after.is_some_and(|n| *calls > n) {
                return Err(throttled("DescribeStacks"));
            }
        }
        let mut pending = self.pending.lock().unwrap();
        let mut snap = self.snapshot.lock().unwrap();
        if let Some((left, value, final_status)) = pending.take() {
            if left == 0 {
                snap.status = final_status.into();
                // The update's own events end as the stack did.
                if let Some(op) = self.operations.lock().unwrap().last_mut() {
                    op.1.get_or_insert(final_status);
                }
                if final_status == "UPDATE_COMPLETE" {
                    let other = self.overtaken_once.lock().unwrap().take();
                    snap.parameters[1].value = Some(other.map(String::from).unwrap_or(value));
                }
            } else {
                *pending = Some((left - 1, value, final_status));
            }
        }
        Ok(Some(snap.clone()))
    }

    async fn preview(&self, _: &UpdatePlan) -> Result<Vec<PlannedChange>, AwsError> {
        Ok(self.planned.clone())
    }

    async fn begin_preview(&self, plan: &UpdatePlan, name: &str) -> Result<bool, AwsError> {
        let mut begun = self.previews_begun.lock().unwrap();
        if begun.iter().any(|(n, _)| n == name) {
            return Ok(false);
        }
        begun.push((name.to_string(), plan.inputs_mark()));
        Ok(true)
    }

    async fn read_preview(&self, _: &StackRef, name: &str) -> Result<PreviewRead, AwsError> {
        let mut begun = self.previews_begun.lock().unwrap();
        let Some(at) = begun.iter().position(|(n, _)| n == name) else {
            return Ok(PreviewRead::Missing);
        };
        let mut pending = self.preview_pending_reads.lock().unwrap();
        if *pending > 0 {
            *pending -= 1;
            return Ok(PreviewRead::Pending {
                created_ms: self.preview_created_ms,
            });
        }
        // As the adapter: a failed one deleted once read, a ready one left for the caller.
        let mark = begun[at].1.clone();
        if let Some(reason) = self.preview_failure {
            begun.remove(at);
            return Ok(PreviewRead::Failed {
                reason: reason.to_string(),
                description: format!("RotateToken preview; inputs {mark}"),
            });
        }
        Ok(PreviewRead::Ready {
            changes: self.planned.clone(),
            description: format!("RotateToken preview; inputs {mark}"),
        })
    }

    async fn drop_preview(&self, _: &StackRef, name: &str) {
        if !self.preview_undeletable {
            self.previews_begun
                .lock()
                .unwrap()
                .retain(|(n, _)| n != name);
        }
    }

    async fn delete_preview(&self, stack: &StackRef, name: &str) -> Result<(), AwsError> {
        if self.preview_undeletable {
            return Err(throttled("DeleteChangeSet"));
        }
        self.drop_preview(stack, name).await;
        Ok(())
    }

    async fn failed_resources(
        &self,
        _: &StackRef,
    ) -> Result<Vec<crate::domain::model::FailedResource>, AwsError> {
        Ok(self
            .cleanup_failure
            .map(|id| crate::domain::model::FailedResource {
                logical_id: id.to_string(),
                physical_id: format!("{id}-physical"),
                status: "DELETE_FAILED".into(),
                reason: "Access denied".into(),
            })
            .into_iter()
            .collect())
    }

    async fn concurrent_resources_limit(&self) -> Result<Option<u32>, AwsError> {
        Ok(Some(2_500))
    }

    async fn operation(
        &self,
        _: &StackRef,
        token: &str,
        _: u64,
    ) -> Result<Option<OperationSeen>, AwsError> {
        let status = self.snapshot.lock().unwrap().status.clone();
        Ok(self
            .operations
            .lock()
            .unwrap()
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, ended)| OperationSeen {
                status: ended.map(str::to_string).unwrap_or_else(|| status.clone()),
            }))
    }

    async fn update(&self, plan: &UpdatePlan) -> Result<UpdateStart, AwsError> {
        {
            let mut busy = self.busy_refusals.lock().unwrap();
            if *busy > 0 {
                *busy -= 1;
                return Ok(UpdateStart::Busy("in progress".into()));
            }
        }
        assert_eq!(
            plan.parameters[0],
            ("Env".to_string(), ParameterValue::UsePrevious)
        );
        assert_eq!(
            plan.capabilities, ACKNOWLEDGED_CAPABILITIES,
            "every capability acknowledged, whatever DescribeStacks lists"
        );
        let ParameterValue::Value(v) = &plan.parameters[1].1 else {
            panic!("token not set")
        };
        if let Some((value, why)) = self.refuse {
            if value == v {
                return Ok(UpdateStart::Refused(why.to_string()));
            }
        }
        self.updates.lock().unwrap().push(v.clone());
        if *v == self.token() {
            return Ok(UpdateStart::NoChange);
        }
        let mut fails_left = self.fails_left.lock().unwrap();
        let final_status = match self.fail_value {
            Some((value, status)) if value == v && *fails_left > 0 => {
                *fails_left -= 1;
                status
            }
            _ => "UPDATE_COMPLETE",
        };
        if let Some(token) = &plan.request_token {
            let mut ops = self.operations.lock().unwrap();
            if ops.iter().any(|(t, _)| t == token) {
                return Ok(UpdateStart::AlreadyOurs);
            }
            ops.push((token.clone(), None));
        }
        self.snapshot.lock().unwrap().status = "UPDATE_IN_PROGRESS".into();
        *self.pending.lock().unwrap() = Some((self.update_polls, v.clone(), final_status));
        Ok(UpdateStart::Started)
    }
}

/// Time that passes only when slept.
pub(crate) struct FakeClock(pub(crate) AtomicU64);
impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
    async fn sleep_ms(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

/// The runs bucket's lock documents (lanes, seats) as S3's conditional writes keep them: each write a
/// new ETag, and a write on an ETag no longer current refused (412, `false`); or a
/// bucket that refuses every request (`down`).
#[derive(Default)]
pub(crate) struct Locks {
    pub(crate) docs: Mutex<BTreeMap<String, (Vec<u8>, u32)>>,
    pub(crate) down: bool,
}

impl Locks {
    fn up(&self) -> Result<(), AwsError> {
        match self.down {
            true => Err(AwsError {
                operation: "GetObject",
                code: Some("SlowDown".into()),
                message: "Please reduce your request rate.".into(),
            }),
            false => Ok(()),
        }
    }
}

impl LockStore for Locks {
    async fn read(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, AwsError> {
        self.up()?;
        let docs = self.docs.lock().unwrap();
        Ok(docs.get(key).map(|(b, v)| (b.clone(), v.to_string())))
    }
    async fn create(&self, key: &str, body: Vec<u8>) -> Result<bool, AwsError> {
        self.up()?;
        let mut docs = self.docs.lock().unwrap();
        if docs.contains_key(key) {
            return Ok(false);
        }
        docs.insert(key.to_string(), (body, 1));
        Ok(true)
    }
    async fn replace(&self, key: &str, body: Vec<u8>, tag: &str) -> Result<bool, AwsError> {
        self.up()?;
        let mut docs = self.docs.lock().unwrap();
        match docs.get(key) {
            Some((_, v)) if v.to_string() == tag => {
                let next = v + 1;
                docs.insert(key.to_string(), (body, next));
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn remove(&self, key: &str, _: &str) -> Result<bool, AwsError> {
        self.up()?;
        Ok(self.docs.lock().unwrap().remove(key).is_some())
    }
}

/// Every AWS call fails: the fuzz is about the input, and nothing may be changed.
pub(crate) struct Unreachable;
impl SecretDirectory for Unreachable {
    async fn secret_arn(&self, _: &str) -> Result<String, AwsError> {
        Err(unreachable_error())
    }
    async fn versions(&self, _: &str) -> Result<SecretVersions, AwsError> {
        Err(unreachable_error())
    }
    async fn replication(&self, _: &str) -> Result<Replication, AwsError> {
        Err(unreachable_error())
    }
    async fn secret_arns(&self) -> Result<Vec<String>, AwsError> {
        Err(unreachable_error())
    }
    async fn version_created(&self, _: &str, _: &str) -> Result<Option<u64>, AwsError> {
        Err(unreachable_error())
    }
}
impl StackDirectory for Unreachable {
    async fn list_stacks(&self) -> Result<Vec<StackSnapshot>, AwsError> {
        Err(unreachable_error())
    }
    async fn template_body(&self, _: &StackRef) -> Result<String, AwsError> {
        Err(unreachable_error())
    }
    async fn stack_policy(&self, _: &StackRef) -> Result<Option<String>, AwsError> {
        Err(unreachable_error())
    }
    async fn nested_stacks(&self, _: &StackRef) -> Result<Vec<NestedStack>, AwsError> {
        Err(unreachable_error())
    }
    async fn resources(&self, _: &StackRef) -> Result<Vec<StackResource>, AwsError> {
        Err(unreachable_error())
    }
}
impl StackUpdater for Unreachable {
    async fn describe(&self, _: &StackRef) -> Result<Option<StackSnapshot>, AwsError> {
        Err(unreachable_error())
    }
    async fn operation(
        &self,
        _: &StackRef,
        _: &str,
        _: u64,
    ) -> Result<Option<OperationSeen>, AwsError> {
        Err(unreachable_error())
    }
    async fn concurrent_resources_limit(&self) -> Result<Option<u32>, AwsError> {
        Err(unreachable_error())
    }
    async fn update(&self, _: &UpdatePlan) -> Result<UpdateStart, AwsError> {
        Err(unreachable_error())
    }
    async fn failed_resources(&self, _: &StackRef) -> Result<Vec<FailedResource>, AwsError> {
        Err(unreachable_error())
    }
    async fn preview(&self, _: &UpdatePlan) -> Result<Vec<PlannedChange>, AwsError> {
        Err(unreachable_error())
    }
    async fn begin_preview(&self, _: &UpdatePlan, _: &str) -> Result<bool, AwsError> {
        Err(unreachable_error())
    }
    async fn read_preview(&self, _: &StackRef, _: &str) -> Result<PreviewRead, AwsError> {
        Err(unreachable_error())
    }
    async fn drop_preview(&self, _: &StackRef, _: &str) {}
    async fn delete_preview(&self, _: &StackRef, _: &str) -> Result<(), AwsError> {
        Err(unreachable_error())
    }
}
impl TargetAccess for Unreachable {
    type Stacks = Unreachable;
    async fn open(&self, _: &Target, _: &str) -> Result<Unreachable, AwsError> {
        Ok(Unreachable)
    }
}
impl RunStore for Unreachable {
    fn bucket(&self) -> &str {
        "b"
    }
    async fn put(&self, _: &str, _: Vec<u8>) -> Result<(), AwsError> {
        Err(unreachable_error())
    }
    async fn get(&self, _: &str, _: &str) -> Result<Vec<u8>, AwsError> {
        Err(unreachable_error())
    }
    async fn exists(&self, _: &str) -> Result<bool, AwsError> {
        Err(unreachable_error())
    }
}
impl LockStore for Unreachable {
    async fn read(&self, _: &str) -> Result<Option<(Vec<u8>, String)>, AwsError> {
        Err(unreachable_error())
    }
    async fn create(&self, _: &str, _: Vec<u8>) -> Result<bool, AwsError> {
        Err(unreachable_error())
    }
    async fn replace(&self, _: &str, _: Vec<u8>, _: &str) -> Result<bool, AwsError> {
        Err(unreachable_error())
    }
    async fn remove(&self, _: &str, _: &str) -> Result<bool, AwsError> {
        Err(unreachable_error())
    }
}
impl WaitBoard for Unreachable {
    async fn keep(&self, _: &str, _: Vec<u8>) -> Result<(), AwsError> {
        Err(unreachable_error())
    }
    async fn find(&self, _: &str) -> Result<Option<Vec<u8>>, AwsError> {
        Err(unreachable_error())
    }
    async fn keys(&self, _: &str) -> Result<Vec<String>, AwsError> {
        Err(unreachable_error())
    }
    async fn forget(&self, _: &str) -> Result<(), AwsError> {
        Err(unreachable_error())
    }
}
fn unreachable_error() -> AwsError {
    AwsError {
        operation: "Fuzz",
        code: None,
        message: "no AWS here".into(),
    }
}

/// A topic whose every publish fails.
pub(crate) struct BrokenTopic;
impl Notifier for BrokenTopic {
    async fn publish(&self, _: &str, _: &str) -> Result<(), AwsError> {
        Err(AwsError {
            operation: "Publish",
            code: Some("NotFound".into()),
            message: "Topic does not exist".into(),
        })
    }
}

/// No call was ever retried.
pub(crate) struct NoRetries;
impl RetryTally for NoRetries {
    fn retried_calls(&self) -> u64 {
        0
    }
    fn throttled_calls(&self) -> u64 {
        0
    }
}

/// A run store in memory; `failing_puts` refuses every write (S3 down, a bucket policy).
#[derive(Default)]
pub(crate) struct MemoryStore {
    objects: Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
    fail_puts: bool,
}

impl MemoryStore {
    pub(crate) fn failing_puts() -> Self {
        Self {
            fail_puts: true,
            ..Self::default()
        }
    }
    pub(crate) fn insert(&self, key: &str, body: Vec<u8>) {
        self.objects.lock().unwrap().insert(key.to_string(), body);
    }
}

impl RunStore for MemoryStore {
    fn bucket(&self) -> &str {
        "runs"
    }
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), AwsError> {
        if self.fail_puts {
            return Err(AwsError {
                operation: "PutObject",
                code: Some("AccessDenied".into()),
                message: "Access Denied".into(),
            });
        }
        self.insert(key, body);
        Ok(())
    }
    async fn get(&self, _: &str, key: &str) -> Result<Vec<u8>, AwsError> {
        self.objects
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .ok_or(AwsError {
                operation: "GetObject",
                code: Some("NoSuchKey".into()),
                message: key.to_string(),
            })
    }
    async fn exists(&self, key: &str) -> Result<bool, AwsError> {
        Ok(self.objects.lock().unwrap().contains_key(key))
    }
}

/// A topic that keeps what is published to it.
#[derive(Default)]
pub(crate) struct RecordingTopic {
    pub(crate) published: Mutex<Vec<(String, String)>>,
}

impl Notifier for RecordingTopic {
    async fn publish(&self, subject: &str, message: &str) -> Result<(), AwsError> {
        self.published
            .lock()
            .unwrap()
            .push((subject.to_string(), message.to_string()));
        Ok(())
    }
}
