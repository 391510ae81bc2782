"""RotateToken's local AWS: moto server (pinned in tests/requirements.txt) plus the few
behaviours of real AWS that plain moto lacks and this product depends on.

Run:  python tests/emulator/rotatetoken_emulator.py --port 5055 [--lambda-bridge URL]
      (or from tests/emulator: python -m rotatetoken --port 5055; --list-patches)

Everything here reaches into moto internals, which is why moto is pinned exactly. Each
patch is small and says what AWS does that moto does not (see ../shared/FIELD-NOTES.md);
where AWS refuses, the emulator refuses too, each with its source.

Modules (one per service or concern; no module imports one that imports it back):
  state.py          shared state: CONTROL and its known keys, LOCK, the logs
  registry.py       the patch registry (@patch) and this list (render)
  install.py        install(): every patch, in one order, then the control endpoints
  control.py        the control endpoints under /moto-api/rotatetoken/ (config, logs)
  server.py         serve, fork_server, main (--list-patches)
  cloudformation/   updates, conditions, dynamic_refs, replacement, change_sets, nested,
                    transforms, policies, real_shapes (its __init__ says which holds what)
  secretsmanager.py, lambda_bridge.py, events.py, sts.py, stepfunctions.py, sns.py, s3.py,
  faults.py (throttling), request_log.py (the request log, session policies),
  crashes.py (invocations killed after a call, asynchronous retries)
  testing.py        an emulator process for the Python suites (tests/emulator/test_*.py)

The patches, from the registry (`python -m rotatetoken --list-patches` prints this list;
tests/emulator/test_registry.py checks that it is the registry's):

  1. [CloudFormation] Conditions are re-evaluated on update: a resource whose Condition
       turns false is deleted, one whose Condition turns true is created (moto ignores
       Conditions on update).
       Source: Measured against moto 5.2.5: "UpdateStack ignores Conditions: flipping
               `RotateToken` to false deletes nothing" (../shared/FIELD-NOTES.md).
  2. [CloudFormation] `{{resolve:secretsmanager:...}}` and `{{resolve:ssm:...}}` dynamic
       references are resolved when a resource is created or updated (moto stores the
       literal text), a pinned `version-id` to that version's value and an empty one to
       AWSCURRENT; a reference naming both a version-stage and a version-id is refused ("Get
       an AWS Secrets Manager secret in an AWS CloudFormation resource", Secrets Manager
       user guide: `secret-id:SecretString:json-key:version-stage:version-id`, "If you
       specify version-id, then don't specify version-stage"); a version id the secret does
       not have fails the update (ResourceNotFoundException), which rolls back.
       Source: Secrets Manager user guide, "Get an AWS Secrets Manager secret in an AWS
               CloudFormation resource"; CloudFormation User Guide, "Using dynamic
               references".
  3. [CloudFormation] Updates are asynchronous: the stack shows UPDATE_IN_PROGRESS for
       `update_delay_seconds` (control endpoint; or each stack its own time from
       `update_delay_distribution`, a clamped log-normal, for fleet benchmarks), and
       UpdateStack on a stack in any *_IN_PROGRESS state is refused with AWS's
       ValidationError.
       Source: Measured against moto 5.2.5: "Updates are synchronous: UPDATE_IN_PROGRESS is
               never observable ... an update on a busy stack is never refused"
               (../shared/FIELD-NOTES.md).
  4. [CloudFormation] `UsePreviousValue` works for parameters that took their default at
       create (moto: 500).
       Source: Measured against moto 5.2.5: "`UsePreviousValue` for a parameter that was
               defaulted at create: HTTP 500" (../shared/FIELD-NOTES.md).
  5. [CloudFormation] Unknown parameters and values outside `AllowedValues` are rejected as
       on AWS.
       Source: Measured against moto 5.2.5: "Unknown parameters and values outside
               `AllowedValues` are accepted silently" (../shared/FIELD-NOTES.md).
               UpdateStack validates too (backend_update_stack).
  6. [CloudFormation] `AWS::SSM::Parameter` without `Name` gets a generated name, as on AWS
       (moto: 500).
       Source: Measured against moto 5.2.5: "`AWS::SSM::Parameter` without `Name` ...: HTTP
               500 and a stack stuck in `CREATE_IN_PROGRESS`" (../shared/FIELD-NOTES.md).
  7. [CloudFormation] StackStatusReason is reported.
       Source: DescribeStacks API reference (Stack, StackStatusReason); moto 5.2.5's Stack
               has no such attribute.
  8. [Lambda] Invoke is bridged over HTTP to the real Rust handlers
       (tests/emulator/lambda_host.py or `cargo lambda watch`) or to `sam local start-
       lambda` (make local-invoke, its X-Amz-Function-Error passed on): the function name is
       the binary name (or the logical id); handler errors become AWS's 200 + `X-Amz-
       Function-Error: Unhandled` with `{errorType, errorMessage}`; the function's Timeout
       is enforced (Sandbox.Timedout); an invocation the host drops mid-way (its environment
       gone) is Runtime.ExitError, never an error moto's interpreter would make
       States.Runtime.
       Source: Lambda Invoke API reference (X-Amz-Function-Error); measured: moto runs no
               handler without Docker, cargo lambda watch answers a handler error as HTTP
               500 (../shared/FIELD-NOTES.md). Runtime.ExitError: Lambda developer guide,
               "Troubleshoot invocation issues" (the runtime exited before answering).
  9. [Step Functions] State machines are executed by moto's interpreter (config default
       switched on), and an execution started without a name gets a UUID, as on AWS (moto:
       "...:None").
       Source: Measured against moto 5.2.5: "Unnamed executions were named `...:None`"
               (../shared/FIELD-NOTES.md); AWS names them with a UUID.
 10. [EventBridge] Rules deliver matching events to Lambda targets, asynchronously (moto:
       not implemented).
       Source: Measured: moto 5.2.5 raises NotImplementedError for a Lambda target. `time`
               as EventBridge delivers it: "Amazon EventBridge events" reference.
 11. [STS] AssumeRole is refused (AccessDenied) for listed accounts or a wrong external ID.
       Source: The target role's trust policy as IAM evaluates it (target-role.yaml: the
               account and the sts:ExternalId condition); measured: moto lets every
               AssumeRole through.
 12. [Step Functions] A Distributed Map's ResultWriter writes SUCCEEDED_0.json and lists it
       in the manifest (moto writes an empty manifest).
       Source: Measured: moto 5.2.5 writes an empty manifest and drops the results; AWS
               writes the result files its manifest lists (Step Functions developer guide,
               ResultWriter).
 13. [Fault injection] config {"throttle": {"fraction": 0.3, "services": ["cloudformation",
       "sts"]}}: that fraction of the product's calls (User-Agent app id `rotatetoken-*`) to
       those services gets AWS's 400 Throttling; config's "throttled" counts them.
       Source: A throttled call answers code `Throttling`, message "Rate exceeded" (aws-cli
               #2948, ../shared/FIELD-NOTES.md).
 14. [Request log] GET/POST calls: every request of the product's functions (User-Agent app
       id), with the function, the IAM action and own/assumed credentials (tests/iam.rs).
       Also the authorisations AWS checks without an API call of their own: expanding a
       Transform on CreateStack/UpdateStack is `cloudformation:CreateChangeSet` on the
       transform; an update of a stack with nested stacks (or a change set including them)
       reads their templates, `s3:GetObject`; a GetObject of a key that does not exist,
       which AWS answers with 404 only to a caller allowed `s3:ListBucket` on the bucket
       (403 AccessDenied otherwise: "GetObject", S3 API reference), is `s3:ListBucket` too.
       Those authorisations are logged `implied`: no request of their own, so none that AWS
       bills or that a benchmark counts.
       Source: Amazon S3 API reference, "GetObject" (Permissions); CloudFormation User
               Guide, "Controlling access with IAM" (transforms); nested templates read with
               the caller's credentials (aws-solutions-library-samples/cloud-intelligence-
               dashboards-data-collection#417).
 15. [Step Functions] Step Functions, Distributed Map: failed/timed-out/aborted children
       count against ToleratedFailurePercentage/Count (default 0: one failed child fails the
       Map with States.ExceedToleratedFailureThreshold); FAILED result files list them with
       Input, Error, Cause. moto: a failed child is a `null` result and the Map succeeds.
       moto's grammar only takes a decimal percentage; an integer (valid ASL) is read as the
       same number. Fault: config {"abort_children": ["<stack>"]}.
       Source: Step Functions developer guide, "Setting failure thresholds for Distributed
               Map states".
 16. [CloudFormation] CloudFormation capabilities: CreateStack/UpdateStack/CreateChangeSet
       refused with InsufficientCapabilitiesException "Requires capabilities : [...]"
       without CAPABILITY_IAM / CAPABILITY_NAMED_IAM (IAM resources, named) or, for direct
       create/update of a template with a Transform, CAPABILITY_AUTO_EXPAND. DescribeStacks
       lists the capabilities given; a change set's without CAPABILITY_AUTO_EXPAND (as `sam
       deploy` leaves stacks). moto: no check, no Capabilities.
       Source: CloudFormation User Guide, "Acknowledging IAM resources in CloudFormation
               templates"; CreateStack/UpdateStack API reference, "Capabilities".
 17. [CloudFormation] `Transform: AWS::Serverless-2016-10-31` expanded with the real SAM
       translator on every create/update (UsePreviousTemplate re-expands the original);
       GetTemplate honours TemplateStage (Original as submitted, Processed expanded). moto:
       the transform is ignored and the stack has no resources.
       Source: aws-sam-translator (the library SAM itself uses, pinned); GetTemplate API
               reference (TemplateStage).
 18. [CloudFormation] A `false` update (any update) that leaves a resource or output
       referring to a resource whose Condition became false is refused: ValidationError
       "Template format error: Unresolved resource dependencies [X] in the Resources|Outputs
       block of the template". moto: HTTP 500.
       Source: The message as users report it: aws-solutions/media-insights-on-aws#145 (a
               parameter turning a condition false), aws/serverless-application-model#832
               (conditional SAM resources). Code: conditions.refuse_unresolved_dependencies.
 19. [CloudFormation] Cleanup failures: config {"fail_delete": {"<stack>": ["LogicalId"]}}
       makes the deletion of that resource fail when an update removes it: the resource
       lives on outside the stack (not deleted), a DELETE_FAILED resource event says why,
       and the stack still ends UPDATE_COMPLETE, as on AWS.
       Source: CloudFormation User Guide, "Update stacks": "if a resource can't be deleted
               during cleanup, the stack update still completes".
 20. [CloudFormation] Stack policies are enforced: an update that deletes a resource the
       stack policy does not allow Update:Delete on rolls back (UPDATE_ROLLBACK_COMPLETE,
       "Action denied by stack policy"). moto stores the policy and ignores it.
       Source: CloudFormation User Guide, "Prevent updates to stack resources". Code:
               policies.denied_by_stack_policy.
 21. [CloudFormation] UPDATE change sets are computed as the update would run: parameters
       resolved as an update resolves them (UsePreviousValue, defaults, SSM-typed parameters
       looked up again), Conditions evaluated, Changes[].ResourceChange with Action
       Add/Remove/Modify, Replacement, Scope and Details (ChangeSource ParameterReference,
       CausingEntity). moto: a diff of template texts that ignores parameters and
       conditions.
       Source: DescribeChangeSet API reference (Changes[].ResourceChange); CloudFormation
               User Guide, "SSM parameter types": "CloudFormation retrieves the value ...
               each time you update the stack".
 22. [CloudFormation] Nested stacks (`AWS::CloudFormation::Stack`): the child is its own
       stack, named `<parent>-<LogicalId>-<suffix>`, template from S3, DescribeStacks
       ParentId/RootId, its stack id as physical id; the parent's update updates it in place
       with the parameters now passed (a child rollback rolls the parent back); in change
       sets a nested stack is always Modify (ChangeSource Automatic), and
       IncludeNestedStacks makes a change set per child (ResourceChange.ChangeSetId),
       deleted with the root's. moto: named after the logical id, no ParentId/RootId,
       replaced on every change.
       Source: CloudFormation User Guide, "Nested stacks" and "Change sets for nested
               stacks"; resource reference "AWS::CloudFormation::Stack"; DescribeStacks API
               reference (Stack); CreateChangeSet IncludeNestedStacks.
 23. [CloudFormation] `AWS::Include` (a top-level Transform or `Fn::Transform`) is processed
       from S3 on every create, update (UsePreviousTemplate too) and change set, so a
       changed snippet shows in a change set and is applied by the next update. moto: not
       supported.
       Source: CloudFormation User Guide, "AWS::Include transform".
 24. [IAM] Session policies are enforced: a session assumed with `Policy` may call only what
       that policy allows (AccessDenied "... because no session policy allows the X action",
       as IAM answers). moto ignores session policies.
       Source: IAM User Guide, "Session policies" (effective permissions are the
               intersection of the role's identity policy and the session policy).
 25. [S3] S3 conditional writes are atomic: PutObject with `If-None-Match: *` or `If-Match`,
       and DeleteObject with `If-Match`, check and write as one step ("Add preconditions to
       S3 operations with conditional requests" and "How to perform conditional deletes",
       Amazon S3 user guide: of concurrent conditional writes to one key, one succeeds and
       the others get 412 PreconditionFailed). moto checks, then writes, on a threaded
       server: two racing creates could both succeed.
       Source: Amazon S3 user guide, "Add preconditions to S3 operations with conditional
               requests" and "How to perform conditional deletes".
 26. [Step Functions] Step Functions sends "Step Functions Execution Status Change" events
       to the default event bus when an execution ends (SUCCEEDED, FAILED, TIMED_OUT,
       ABORTED), with the detail AWS documents: executionArn, stateMachineArn, name, status,
       startDate and stopDate (epoch ms), input and output as JSON text,
       inputDetails/outputDetails ("AWS Step Functions events", EventBridge events
       reference; delivery best effort). moto sends none. Fault: config
       {"drop_status_events": true} loses them, as best effort delivery may.
       Source: EventBridge events reference, "AWS Step Functions events".
 27. [EventBridge] EventBridge TestEventPattern answers {"Result": true|false} with the same
       matcher the rules use, and refuses a malformed pattern with
       InvalidEventPatternException ("TestEventPattern", EventBridge API reference). moto:
       not implemented.
       Source: EventBridge API reference, "TestEventPattern".
 28. [SNS] SNS Publish to a topic encrypted with a KMS key (KmsMasterKeyId) uses the key
       with the publisher's credentials: the publisher needs kms:GenerateDataKey* and
       kms:Decrypt on it ("Encryption at rest" and "Enable compatibility between event
       sources from AWS services and encrypted topics", SNS developer guide). Logged as
       implied calls (14); a key that does not exist or is disabled refuses the publish
       (KMSNotFound, KMSDisabled, as the Publish API reference lists). moto ignores the key.
       Source: SNS developer guide, "Encryption at rest" and "Enable compatibility between
               event sources from AWS services and encrypted topics"; SNS API reference,
               Publish (errors).
 29. [CloudFormation] An update changes a resource in place (same physical id) unless a
       create-only property changed, by the type's registry schema (`createOnlyProperties`,
       AWS's schemas as cfn-lint ships them): then it is replaced (new physical id, the old
       one deleted). A custom-named resource that needs replacing is refused, as on AWS.
       Properties are compared with dynamic references as written, so a reference that pins
       another VersionId is a change, and parameters reached through Fn::Sub count. Change
       sets say the same: Replacement True | Conditional | False with Details[].Target.Name
       and RequiresRecreation Always | Conditionally | Never. The update log says what each
       update did: "resources": {deleted, created, modified, replaced} with physical ids.
       moto: SSM parameters are deleted and recreated under a new name on every update,
       parameters in Fn::Sub change nothing, and change sets say Replacement Conditional for
       everything.
       Source: CloudFormation User Guide, "Update behaviors of stack resources" and "Using
               dynamic references"; CloudFormation CLI user guide, "Resource type schema"
               (createOnlyProperties).
 30. [CloudFormation] Resource times: ListStackResources' LastUpdatedTimestamp and
       DescribeStackResources' Timestamp are "Time the status was updated"
       (StackResourceSummary, StackResource, CloudFormation API reference): the time
       CloudFormation last created, updated or replaced that resource; an update that leaves
       a resource alone leaves its time alone. ResourceStatus is CREATE_COMPLETE or
       UPDATE_COMPLETE accordingly. moto: the stack's creation time (ListStackResources,
       always CREATE_COMPLETE) or a fixed 2010 date.
       Source: CloudFormation API reference, StackResourceSummary and StackResource ("Time
               the status was updated").
 31. [Secrets Manager] ListSecretVersionIds gives each version's own CreatedDate
       (SecretVersionsListEntry, "The date and time this version of the secret was created",
       Secrets Manager API reference), to the millisecond. moto: the time of the
       ListSecretVersionIds call.
       Source: Secrets Manager API reference, SecretVersionsListEntry.CreatedDate.
 32. [Step Functions, as moto has it] A task result over 256 KiB (262,144 bytes of UTF-8)
       fails the state with States.DataLimitExceeded, "The state/task '...' returned a
       result with a size exceeding the maximum number of bytes service limit." (moto's
       interpreter, stepfunctions/parser/quotas.py; AWS: "Step Functions service quotas",
       and StateEnteredEventDetails.input "Maximum length of 262144", Step Functions API
       reference; the same message as AWS's, quoted in NASA-IMPACT/csdap-cumulus#296).
       Report keeps its output under it (tests/state_machine.rs, the payload-limit test).
       Source: Step Functions developer guide, "Step Functions service quotas"; Step
               Functions API reference, StateEnteredEventDetails.input; NASA-IMPACT/csdap-
               cumulus#296.
 33. [CloudFormation] A change set's execution leaves the stack as a direct create/update
       does: template, Outputs, and parameters as given (an SSM-typed parameter keeps its
       Parameter Store name; UsePreviousValue looks it up again). moto: HTTP 500 on every
       `cdk deploy` stack's next CreateChangeSet/UpdateStack (`BootstrapVersion`).
       Source: CloudFormation User Guide, "Specify existing resources at runtime with
               CloudFormation-supplied parameter types".
 34. [CloudFormation] DescribeStacks Parameters: the value given, `ResolvedValue` for SSM-
       typed ones, `****` for NoEcho, lists as comma-delimited text.
       Source: CloudFormation API reference, `Parameter` data type.
 35. [CloudFormation] `AWS::CDK::Metadata` is a resource (moto: unmodelled, `Add` in every
       change set).
       Source: AWS CDK Developer Guide, "Version reporting" (the `AWS::CDK::Metadata`
               resource).
 36. [CloudFormation] `Fn::GetAtt` Value and Type of an `AWS::SSM::Parameter` (moto: HTTP
       500).
       Source: CloudFormation User Guide, AWS::SSM::Parameter, "Return values".
 37. [CloudFormation] A Lambda function with inline `ZipFile` code is updated in place
       (moto: "Incorrect padding", rollback).
       Source: CloudFormation User Guide, AWS::Lambda::Function Code (ZipFile).
 38. [CloudFormation] A missing parameter: "Parameters: [X] must have values" (moto:
       "Missing parameter X").
       Source: The AWS CLI's message for CreateStack and UpdateStack, e.g. aws/aws-cli#3283.
 39. [CloudFormation] A dynamic reference to a JSON key the secret lacks fails the resource
       with "Could not find a value associated with JSONKey in SecretString" and the
       operation rolls back, the resources as before (moto: HTTP 500 at create, a KeyError
       as an update's reason).
       Source: The message users report, aws/aws-sam-cli#2153; CloudFormation names neither
               the key nor the secret, aws-cloudformation/cloudformation-coverage-
               roadmap#1822.
 40. [CloudFormation] A defaulted list-typed parameter is a list, as a given one is (moto:
       one string, so every UsePreviousValue update looked like a change to what reads it).
       Source: CloudFormation User Guide, "Parameters": CommaDelimitedList "an array of
               literal strings that are separated by commas".
 41. [CloudFormation] `ClientRequestToken` on CreateStack, UpdateStack and ExecuteChangeSet:
       every event the operation causes (the stack's, and a resource's where one is
       recorded) carries the token in DescribeStackEvents; a token used before on the stack
       is refused (TokenAlreadyExistsException "A client request token already exists."), a
       malformed one too (ValidationError, pattern `[a-zA-Z0-9][-a-zA-Z0-9]*`, 1 to 128
       characters). moto takes the parameter nowhere and leaves every event's token empty.
       Source: UpdateStack API reference, ClientRequestToken ("All events initiated by a
               given stack operation are assigned the same client request token, which you
               can use to track operations") and Errors (TokenAlreadyExists); StackEvent
               data type, ClientRequestToken.
 42. [Fault injection] config {"rate_limits": {"cloudformation": {"DescribeStacks": [5, 10],
       "*": [10, 20]}}}: calls to an API beyond its rate are refused with AWS's 400
       Throttling "Rate exceeded", counted per account, region and API and shared by every
       caller (a token bucket: [calls a second, burst]); "*" is every other API of the
       service. Limits for one account-region or region only:
       "cloudformation@<account>/<region>", "cloudformation@<region>" (the most specific
       applies). On unless configured otherwise, as on AWS: every CloudFormation API at 5
       calls a second, burst 10, the rate users measure for DescribeStacks (AWS publishes
       none); {} for none (the emulator's own suites test each mechanism alone). "throttled"
       counts them.
       Source: Service Quotas lists CloudFormation's API rates (UpdateStack, DescribeStacks,
               CreateChangeSet, DescribeStackEvents...) as per account and region, not
               adjustable; users measure DescribeStacks at about 5 calls a second (aws/aws-
               sam-cli#2671) and see deploys fail on a throttled poll with ~400 stacks in
               one account (aws/aws-cdk-cli#1777).
 43. [Lambda] config {"time_out_after_run": {"<function>": N}}: the next N invocations of
       that function run to their end (every AWS call they make happens) and then time out:
       the caller gets Sandbox.Timedout instead of the result, so Step Functions retries the
       state with its original input, which predates what the lost invocation changed.
       Source: Lambda: a function that runs out of time is stopped, its invocation fails
               with "Task timed out after N seconds" (Lambda developer guide, "Configure
               Lambda function timeout"); Step Functions names it Sandbox.Timedout and a
               Retry re-runs the state with the state's original input (Step Functions
               developer guide, "Handling errors in Step Functions workflows").
 44. [Lambda] config {"crash_after_call": {"<function>": {"action": "s3:PutObject", "nth":
       1, "times": 1}}}: the invocation of that function is killed right after its nth call
       of that action (any action when "action" is absent) has taken effect; the calls it
       would make after that never reach AWS (refused with a 400 no SDK retries, never
       applied), and its caller gets Runtime.ExitError ("signal: killed") instead of its
       result. "times" invocations are killed, then the fault is spent. Calls are counted
       per function from the start of its invocation (one invocation of a function at a
       time).
       Source: Lambda developer guide, "Troubleshoot invocation issues": a runtime that
               exits (out of memory, killed) fails the invocation with Runtime.ExitError
               "Runtime exited with error: signal: killed" (also AWS re:Post knowledge
               center, "lambda-runtime- error"); what the function changed before it died
               stays changed.
 45. [Lambda] Asynchronous invocations (EventBridge rule targets, 10) that end in a function
       error are invoked again with the same event, twice, after config
       "async_retry_delays_seconds" (AWS: about one minute, then two; default [60, 120]).
       Source: Lambda developer guide, "Asynchronous invocation" / "Error handling and
               automatic retries in Lambda": on a function error Lambda retries twice,
               waiting one minute before the first retry and two minutes before the second.
 46. [S3] config {"deny_s3_writes": ["map-results/*", "runs/*/summary.json"]}: a PutObject
       whose key matches one of these patterns (fnmatch) is refused with S3's 403
       AccessDenied, whoever writes it (a function, or Step Functions' ResultWriter), and
       nothing is written.
       Source: Amazon S3 API reference, "Error responses": AccessDenied, HTTP 403, the
               answer to a write a bucket policy, an SCP or a KMS key policy does not allow
               (a tightened policy, a disabled key); Step Functions developer guide,
               "Handling errors": States.ResultWriterFailed when a Distributed Map cannot
               write its results.
 47. [Step Functions, as moto has it] StopExecution of a parent stops its Distributed Map's
       child executions (moto's interpreter stops every frame of the stopped execution): an
       invocation under way runs to its end, and no state of a child starts after the stop.
       Source: Step Functions API reference, "MapRunExecutionCounts": aborted children are
               those "stopped by the user or by Step Functions"; developer guide, "Redriving
               Map Runs": a stopped parent's Map Run cancels its in-progress Standard child
               executions.
 48. [Step Functions] A stopped execution ends ABORTED whatever it was doing: a task whose
       invocation was under way when StopExecution came, and then failed, does not turn the
       execution FAILED (moto's interpreter, stopped mid-task, let that task's error
       overwrite the stop: its Retry is pruned, the error goes uncaught and `set_error`
       replaces the stopped state).
       Source: Step Functions API reference, StopExecution ("Stops an execution") and
               DescribeExecution (status ABORTED; ExecutionAbortedEventDetails). Found by
               the fault campaign, seed 8 (docs/fault-campaign.md): discover killed, the run
               stopped during the dead invocation, and moto ended it FAILED with the task's
               Runtime.ExitError.
 49. [CloudFormation] Every stack status change (CREATE_IN_PROGRESS to UPDATE_COMPLETE, the
       rollbacks, the deletes, a status forced by the control endpoint), once, after the
       stack shows it, is sent to the default event bus of the stack's account and region as
       "CloudFormation Stack Status Change" (source aws.cloudformation; detail stack-id,
       status-details.status and status-reason, client-request-token: the operation's, patch
       41), nested stacks included. moto sends none. Delivery faults, as durable but
       unordered delivery allows, config {"stack_status_event_faults": {"lose": 0.01,
       "duplicate": 0.05, "delay_seconds": [0, 3], "seed": 7}}: each event lost, doubled, or
       delayed (independently, so events arrive out of order); counts in
       "stack_status_events" (emitted, lost, duplicated, and reordered: ends delivered
       behind a later end of the same stack).
       Source: CloudFormation user guide, "Stack Status Change event detail" and "Monitoring
               CloudFormation ... events with EventBridge" ("sent to the EventBridge default
               event bus"; "guaranteed to be delivered, but possibly out of order");
               EventBridge events reference, "AWS CloudFormation events" (Delivery type:
               Durable). Loss is beyond what AWS documents for durable delivery: the product
               must survive it (a rule disabled, a forwarding target mis-set, a bus policy
               changed).
 50. [CloudFormation] DescribeAccountLimits answers StackLimit, StackOutputsLimit and
       ConcurrentResourcesLimit (AWS's defaults, or config {"account_limits":
       {"ConcurrentResourcesLimit": 300}}). moto: not implemented.
       Source: CloudFormation API reference, DescribeAccountLimits and AccountLimit
               ("ConcurrentResourcesLimit: the number of resources in concurrent stack
               operations"); user guide, "CloudFormation quotas" (defaults 2,000 stacks,
               2,500 resources).
 51. [EventBridge] A target with no input transformer receives the event whole (moto's
       default template drops `account`). A rule whose target is an event bus in another
       account or region delivers the event whole (its id, source account, region, time and
       resources kept; moto re-puts it as a new event of the receiving account), and only if
       the receiving bus's resource policy allows events:PutEvents from the sending account
       for this event (its conditions on aws:PrincipalAccount, aws:PrincipalOrgPaths,
       events:source and events:detail-type judged; any other condition refuses; an
       organisation's Principal "*" grant only for a target with a RoleArn): otherwise the
       event is lost, as on AWS (counted in "bus_deliveries_refused"). A bus in the sender's
       own account needs no policy.
       Source: EventBridge user guide, "Permissions for event buses" ("The default event bus
               in your AWS account only allows events from one account. You can grant
               additional permissions ... by attaching a resource-based policy") and
               "Example policy: Send events to the default bus in a different account" and
               "Example policy: Send events to a custom bus in a different account"
               (events:source, events:detail-type); PutPermission API reference (an
               organisation admitted with Principal "*" and a condition); IAM user guide,
               "AWS global condition context keys" (aws:PrincipalOrgPaths); "Sending and
               receiving events between AWS accounts in EventBridge"; EventBridge events
               reference, "Amazon EventBridge events" (the envelope: version, id, detail-
               type, source, account, time, region, resources, detail).
 52. [Step Functions] A Retry's wait (IntervalSeconds × BackoffRate^n, capped by
       MaxDelaySeconds, FULL jitter drawn from it: moto computes it) ends at once when the
       execution is stopped, as an execution stopped during a retry's wait is ABORTED then,
       not after the wait (moto sleeps the whole interval, deaf to the stop). Time
       compression, for suites only: config {"retry_interval_scale": 0.1} makes every such
       wait a tenth as long; the default 1 is AWS's time. It changes how long, never whether
       or how often, a task is retried.
       Source: Step Functions developer guide, "Handling errors in Step Functions
               workflows", Retrying after an error (IntervalSeconds, BackoffRate,
               MaxDelaySeconds, JitterStrategy); API reference, StopExecution ("Stops an
               execution"; the execution's status becomes ABORTED). moto 5.2.5,
               retrier_decl.py: `time.sleep(interval_seconds)`.
 53. [CloudFormation] A read (Describe*, List*, Get*) answers the stacks as one moment left
       them, never half of an update: an update applies under the emulator's lock, and a
       read builds and serializes its answer under the same lock. moto's Stack.update sets
       UPDATE_COMPLETE before it replaces the stack's parameters, so a DescribeStacks
       between the two showed an update finished with the parameters from before it: a
       `false` update reading as `true`. Found by the fault campaign (docs/fault-
       campaign.md): under load, a refresh polled in that gap, took its own `false` for
       another run's `true` and reported the stack refreshed while it stayed at `false`.
       CreateStack runs under the same lock: moto walks the region's stacks unlocked to
       refuse a duplicate name, and stacks created at once answered HTTP 500 ("OrderedDict
       mutated during iteration", 1,300-stack fleet benchmark), which AWS never does to a
       valid CreateStack.
       Source: CloudFormation API reference, DescribeStacks and the Stack data type:
               StackStatus UPDATE_COMPLETE with Parameters as the update left them. moto
               5.2.5, cloudformation/models.py Stack.update (status set before parameters)
               and CloudFormationBackend.create_stack (iterates self.stacks).
 54. [S3] A listing (ListObjectsV2, ListObjects) answers while other requests write and
       delete keys of the bucket: moto's key store copies the bucket's keys, then reads each
       one again by name, and a key deleted in between made the listing answer HTTP 500
       (KeyError; 20 of them in a 1,300-stack fleet benchmark, where waits and lane places
       come and go). The listing now reads the copy it made: a key deleted meanwhile is
       listed or not, never an error.
       Source: Amazon S3 user guide, "Amazon S3 data consistency model": strong read-after-
               write consistency for LIST, with no error for concurrent writes; moto 5.2.5,
               s3/utils.py _VersionedKeyStore._iteritems.
 55. [Step Functions] Time dilation, for benchmarks only: config {"wait_state_scale": 3}
       makes every Wait state (Seconds, SecondsPath) wait three times as long, and every
       task's time-out (TimeoutSeconds, TimeoutSecondsPath) come three times later, so that
       a benchmark slowing the whole of AWS by a factor (update times, API rates, its
       deploy's own waits) slows the state machine's fixed waits too (a run's start,
       staggered by a Wait state of the product; a callback task's time-out, which bounds
       what a lost event costs). The default 1 is AWS's time. A stop still ends the wait at
       once. Config `task_timeout_scale` scales the time-outs alone (null: as
       `wait_state_scale`): the suites shorten their Wait states fivefold (the product
       decides from AWS's state at every look, so any wait down to zero must be safe, as
       patch 52 does for Retry waits) and keep AWS's time-outs, which their tests of lost
       events measure.
       Source: Step Functions developer guide, "Wait workflow state" (Seconds, SecondsPath:
               the state waits that many seconds), "Task workflow state" (TimeoutSeconds,
               TimeoutSecondsPath: the task fails with States.Timeout when it runs longer).
               moto 5.2.5, wait_function.py: `_wait_interval`; timeouts/timeout.py.
 56. [CloudFormation] An UPDATE change set takes time to create: CREATE_IN_PROGRESS
       (ExecutionStatus UNAVAILABLE, no Changes) for config `change_set_seconds`, its nested
       stacks' change sets with it, then CREATE_COMPLETE / AVAILABLE, or FAILED with AWS's
       "didn't contain changes" for a root change set with the stack's template whose update
       (patch 21's diff) changes nothing. DescribeChangeSet and ListChangeSets say so;
       DeleteChangeSet and ExecuteChangeSet of one still being created:
       InvalidChangeSetStatus. moto: every change set ends the moment it is created, FAILED
       only when the parameters are given exactly as the stack has them.
       Source: DescribeChangeSet API reference (Status CREATE_PENDING | CREATE_IN_PROGRESS |
               CREATE_COMPLETE | FAILED; ExecutionStatus UNAVAILABLE while CloudFormation
               creates it); DeleteChangeSet and ExecuteChangeSet API references
               (InvalidChangeSetStatus). Field reports: change sets taking "up to a minute
               to stabilize" (cloudtools/stacker#389), not created within 30 s
               (acquia/moonshot#213), about 20 minutes with many nested stacks (aws/aws-sam-
               cli#4681); the SAM CLI polls a change set every 5 s.
 57. [Step Functions] SendTaskSuccess/SendTaskFailure for the token of a callback task that
       timed out answer `TaskTimedOut` ("The task token has either expired or the task
       associated with the token has already been closed"), HTTP 400. moto answered HTTP 200
       and dropped the outcome, so a waiter that woke a step gone meanwhile was told it woke
       it.
       Source: Step Functions API reference, SendTaskSuccess and SendTaskFailure, Errors:
               TaskTimedOut. moto 5.2.5: execute_state.py `_evaluate_with_timeout` never
               reports the time-out to the task's callback endpoint (callback.py `report`).
 58. [CloudFormation] UpdateStack without `RoleARN` keeps the stack's service role (moto
       dropped it: DescribeStacks showed no RoleARN after any update without one). An
       executed change set keeps it too (moto's change sets never touch it), even one naming
       another role.
       Source: CloudFormation API reference, UpdateStack and CreateChangeSet, `RoleARN`: "If
               you don't specify a value, CloudFormation uses the role that was previously
               associated with the stack."
 59. [Secrets Manager] A partial ARN (the ARN without its 6-character suffix) finds a
       replica secret as it finds a primary, in the replica's region: `DescribeSecret`,
       `GetSecretValue` and a `{{resolve:secretsmanager:<partial ARN>}}` dynamic reference,
       such as one a template builds with `Fn::Sub` from `${AWS::Region}`. moto stores a
       replica under its full ARN and looks a partial ARN up by name only:
       ResourceNotFoundException.
       Source: Secrets Manager user guide, "Replicate an AWS Secrets Manager secret to other
               AWS Regions" (a replica keeps the primary's name; its ARN differs only in the
               Region); Secrets Manager API reference, DescribeSecret/GetSecretValue
               `SecretId` ("You can specify a partial ARN too... A partial ARN match can
               work as long as it uniquely matches only one secret"); CloudFormation User
               Guide, "Using dynamic references".
 60. [CloudFormation] A change set holds only while its stack stays as it was: when the
       stack's update begins (UpdateStack accepted, its parent's update reaching it as a
       nested stack, or ExecuteChangeSet of another change set), each of its change sets
       that could still be executed, with their nested ones, becomes ExecutionStatus
       OBSOLETE, its Status kept (one still being created, patch 56, ends OBSOLETE);
       ExecuteChangeSet of an OBSOLETE one is refused, InvalidChangeSetStatus
       (DeleteChangeSet is not). Executing a change set deletes every other change set of
       its stack (and, for its nested change sets, of their stacks), their nested ones with
       them; its nested change sets end with its ExecutionStatus. CreateChangeSet naming a
       change set the stack has (any not executed) is refused: AlreadyExistsException, HTTP
       400, "ChangeSet <name> cannot be created due to a mismatch with existing attribute
       <Template | Parameters | ClientToken>", but for the same request repeated with its
       ClientToken, answered with that change set. DescribeChangeSet of a change set that
       does not exist: ChangeSetNotFound, HTTP 404, "ChangeSet [<name>] does not exist".
       moto: no OBSOLETE, an execution deletes nothing, a second change set of one name is
       made beside the first, and a missing one is ValidationError "Stack with id ... does
       not exist".
       Source: DescribeChangeSet and ChangeSetSummary API references, ExecutionStatus ("in
               an OBSOLETE state because the stack was already updated"); ExecuteChangeSet
               API reference ("When you execute a change set, CloudFormation deletes all
               other change sets associated with the stack because they aren't valid for the
               updated stack"; Errors: InvalidChangeSetStatus); CreateChangeSet API
               reference (Errors: AlreadyExists, HTTP 400; ClientToken); DescribeChangeSet
               API reference (Errors: ChangeSetNotFound, HTTP 404). AWS's answers as
               reported: InvalidChangeSetStatus "cannot be executed in its current execution
               status of [OBSOLETE]" (aws/amazon-chime-sdk-js#1089); AlreadyExistsException
               "ChangeSet cs2x0x0 cannot be created due to a mismatch with existing
               attribute Template" (saksdirect/nova#10), "... attribute ClientToken"
               (awslabs/landing-zone-accelerator-on-aws#442); a name reused once its change
               set was executed is accepted (elias5000/clouds-aws#9).
 61. [S3] A listing by prefix (ListObjectsV2, ListObjects with `Prefix`) reads the bucket's
       key names alone and only the matching keys' versions: moto's list_objects read every
       key of the bucket, with its versions, for each listing, and a bucket of a fleet run's
       waits, lanes and results made that the largest part of the local AWS's CPU (17% of
       the emulator's samples with py-spy, 1,300 stacks, 2026-12-06), which slowed every
       other answer on the same process. What is listed is unchanged: the same keys, in the
       same order, a key deleted meanwhile listed or not, never an error (patch 54).
       Source: Amazon S3 API reference, ListObjectsV2: `Prefix` "limits the response to keys
               that begin with the specified prefix"; moto 5.2.5, s3/models.py
               S3Backend.list_objects.
 62. [CloudFormation] A template body is parsed once, not at every call that reads it: moto
       parsed the stack's YAML again (pure-Python PyYAML) for each change set, update and
       policy check, 10% of the local AWS's CPU samples (py-spy) at the start of a
       1,300-stack fleet benchmark, which slowed every other answer of the same process.
       Each caller still gets a template of its own (a deep copy of the first parse, as moto
       callers change what they are given), and a body that does not parse fails as before,
       every time.
       Source: moto 5.2.5: cloudformation/models.py Stack.parse_template (yaml.load with the
               same tag constructor, utils.py yaml_tag_constructor, at every call, then
               json.loads: a function of the body alone); cloudformation/parsing.py, which
               changes the resources it is given (hence the copy). py-spy, 2026-12-07, the
               fleet benchmark's start.
 63. [Fault injection] config {"call_latency": {"cloudformation": 0.1, "s3": 0.05, "*":
       0.05, "scale": 5}}: each call of the product's functions (User-Agent app id) is
       answered no sooner than its service's stated latency ("*": any other service's),
       times "scale" (a run that slows the whole of AWS slows its answers too), as an AWS
       endpoint takes tens to hundreds of milliseconds where moto answers in a few. The
       latency is the whole round trip's, as the sources measure it: moto handles the call
       first, and the answer waits out what is left of it (the local AWS's own work is not
       added to AWS's; a call that took longer is not slowed further). A call's effect so
       lands at the start of its latency, its answer at the end. The request's thread waits;
       other calls are served meanwhile. Off unless configured.
       Source: Amazon S3: small requests' median latency is "often in the range of tens of
               milliseconds" (whitepaper "Best Practices Design Patterns: Optimizing Amazon
               S3 Performance", "Timeouts and Retries for Latency-Sensitive Applications");
               SDK logs of S3 from Lambda show 0.04 s to 0.08 s a call. CloudFormation's
               DescribeStacks answers in 0.11 s (aws/aws-cdk issue log, `[AWS cloudformation
               200 0.11s 0 retries]`) to 0.4 s (aws/aws-cdk#20257). AWS publishes no latency
               for either.
 64. [CloudFormation] DescribeStacks' `LastUpdatedTime`: set when an update begins
       (UpdateStack, ExecuteChangeSet of an UPDATE change set, a nested stack's update
       through its parent), absent until a stack's first update. moto never returns it.
       Source: CloudFormation API reference, `Stack` data type: LastUpdatedTime "The time
               the stack was last updated. This field will only be returned if the stack has
               been updated at least once."
"""
