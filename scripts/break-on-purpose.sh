#!/usr/bin/env bash
# Proves the suites can fail: applies one deliberate bug at a time, runs the test that
# must catch it, and restores the file. Exit 1 if a bug survives.
# Usage: make break-on-purpose   (needs a clean work tree for the files it touches)
set -uo pipefail
cd "$(dirname "$0")/.."
# A property test that fails under a deliberate bug must not leave a regression file behind.
export PROPTEST_DISABLE_FAILURE_PERSISTENCE=1
survived=0

# RT_ANCHORS_ONLY=1 (`make static`): only that each deliberate bug still finds the code it
# changes, in seconds, so that a refactor cannot leave one unable to run unseen until the
# next full run (nine had, by 2026-12-07).
anchored() { # name file old
  python3 - "$2" "$3" <<'PY' || { echo "BROKEN:   $1 (its anchor is gone from $2: update the mutation)"; survived=1; }
import sys
path, old = sys.argv[1:3]
sys.exit(0 if old in open(path).read() else 1)
PY
}

mutate() { # name file python-replace-old python-replace-new test-filter [test-binary | lib | emulator:<module>]
  local name="$1" file="$2" old="$3" new="$4" filter="$5" binary="${6:-state_machine}"
  if [ -n "${RT_ANCHORS_ONLY:-}" ]; then anchored "$name" "$file" "$old"; return; fi
  # The file is restored with git checkout: never run over uncommitted work.
  if ! git diff --quiet HEAD -- "$file"; then
    echo "refusing: $file has uncommitted changes (commit or stash them first)" >&2
    exit 2
  fi
  if ! python3 - "$file" "$old" "$new" <<'PY'
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
assert old in text, f"mutation anchor not found in {path}: {old!r}"
open(path, "w").write(text.replace(old, new, 1))
PY
  then
    echo "BROKEN:   $name (its anchor is gone: update the mutation)"; survived=1
    return
  fi
  local target=(--test "$binary")
  [ "$binary" = lib ] && target=(--workspace --lib)
  # The operator's command line: its own unit tests (`cli`).
  [ "$binary" = cli ] && target=(-p rotate-token --bins)
  # A deliberate bug must build: one the compiler (or clippy's -D warnings) refuses would
  # be "caught" by a build failure, proving nothing about the tests.
  if [[ "$binary" != emulator:* ]] && ! cargo nextest run "${target[@]}" --no-run >/dev/null 2>&1; then
    echo "BROKEN:   $name (does not build: make it compile, e.g. std::hint::black_box(false) for a constant)"; survived=1
    git checkout -q -- "$file"
    return
  fi
  if [[ "$binary" == emulator:* ]]; then
    # The local AWS's own suite (tests/emulator): `emulator:<module>`, the filter a test name.
    (cd tests/emulator && ../../.venv/bin/python -m unittest -k "$filter" "${binary#emulator:}") >/dev/null 2>&1
  else
    cargo nextest run "${target[@]}" "$filter" >/dev/null 2>&1
  fi
  if [ $? -eq 0 ]; then
    echo "SURVIVED: $name"; survived=1
  else
    echo "caught:   $name"
  fi
  git checkout -q -- "$file"
}

# Like mutate, for a deliberate bug `make local-invoke` must catch (the functions under
# `sam local invoke`): run only where a Docker engine answers.
mutate_local() { # name file old new
  local name="$1" file="$2" old="$3" new="$4"
  if [ -n "${RT_ANCHORS_ONLY:-}" ]; then anchored "$name" "$file" "$old"; return; fi
  if ! docker info >/dev/null 2>&1; then
    echo "not run:  $name (no Docker engine: make local-invoke cannot run here)"
    return
  fi
  if ! git diff --quiet HEAD -- "$file"; then
    echo "refusing: $file has uncommitted changes (commit or stash them first)" >&2
    exit 2
  fi
  python3 - "$file" "$old" "$new" <<'PY' || { echo "BROKEN:   $name (its anchor is gone)"; survived=1; return; }
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
assert old in text, f"mutation anchor not found in {path}: {old!r}"
open(path, "w").write(text.replace(old, new, 1))
PY
  if make --no-print-directory local-invoke >/dev/null 2>&1; then
    echo "SURVIVED: $name"; survived=1
  else
    echo "caught:   $name"
  fi
  git checkout -q -- "$file"
}

# A task created at phase two is now taken back to phase one by the refresh (the stack shows
# no phase one of ours: operations.rs), so skipping phase one is injected where the update
# is sent, and the defence has its own deliberate bug.
mutate "two-phase update skipped (phase one sends true)" functions/shared/src/domain/model/step.rs \
  '            Phase::Disable => "false",' '            Phase::Disable => "true",' a_put_secret_value
mutate "a task naming phase two is believed without the stack's word (phase one and its guard skipped)" functions/shared/src/domain/refresh/operations.rs \
  '    if !at_false {' '    if std::hint::black_box(false) && !at_false {' a_task_cannot_skip_phase_one lib
mutate "guarded resources not recreated (emulator ignores Conditions)" tests/emulator/rotatetoken/cloudformation/conditions.py \
  '    parsing.ResourceMap.update = rm_update' '    pass  # mutation' a_put_secret_value
mutate "stacks without the parameter selected" functions/shared/src/domain/in_place.rs \
  $'    } else {\n        None\n    }' $'    } else {\n        Some(std::hint::black_box(RefreshMode::TwoPhase))\n    }' a_put_secret_value
mutate "a failed stack reported as refreshed" functions/shared/src/domain/report/mod.rs \
  '        ..row(&r.stack, r.outcome)' '        ..row(&r.stack, Outcome::Refreshed)' a_failed_phase_two
mutate "data-loss guard ignored before phase one" functions/shared/src/domain/refresh/start.rs \
  'if task.phase == Phase::Disable && !task.guard_passed && token_not_false {' \
  'if task.phase == Phase::Disable && !task.guard_passed && token_not_false && std::hint::black_box(false) {' a_guarded_bucket data_loss_guard
mutate "phase two not retried" functions/shared/src/domain/refresh/mod.rs \
  'pub const ENABLE_ATTEMPTS: u32 = 3;' 'pub const ENABLE_ATTEMPTS: u32 = 1;' a_failed_phase_two
mutate "throttled calls not retried" functions/shared/src/aws/mod.rs \
  'RetryConfig::standard().with_max_attempts(8)' 'RetryConfig::disabled()' under_30_percent faults
mutate "report's sns:Publish grant removed" template.yaml \
  '              Action: sns:Publish' '              Action: sns:ListTopics' in_its_own_account iam
# Issue 8: behave as CloudFormation and Step Functions do.
mutate "capabilities not acknowledged (a sam deploy stack is refused)" functions/shared/src/domain/planning.rs \
  $'        capabilities: ACKNOWLEDGED_CAPABILITIES\n            .iter()' $'        capabilities: [""; 0]\n            .iter()' a_sam_stack_is_refreshed refresh
mutate "emulator accepts updates without the capabilities AWS requires" tests/emulator/rotatetoken/cloudformation/policies.py \
  '    guarded("update_stack", via_change_set=False)' '    pass  # mutation' the_emulator_refuses_updates_without emulator
mutate "a refused update reported as a skip" functions/shared/src/domain/refresh/start.rs \
  $'            fail(\n                task,\n                format!("CloudFormation refused the update: {why}"),\n                critical,\n            );' \
  'let _ = critical; not_done(task, format!("CloudFormation refused the update: {why}"));' an_update_cloudformation_refuses lib
mutate "dangling reference not looked for before phase one" functions/shared/src/domain/refresh/start.rs \
  'nested::refusal_reason(&body, &task.parameter, &members)' 'nested::refusal_reason("{}", &task.parameter, &[])' a_dangling_reference_is_found refresh
mutate "the Map fails on one failed child (AWS default tolerance)" statemachine/rotatetoken.asl.json \
  $'      "ToleratedFailurePercentage": 100,\n' '' a_child_that_ends_outside
mutate "a function failure after a change not critical" functions/shared/src/domain/refresh/verdict.rs \
  'fail(&mut task, reason, !before_any_change);' 'fail(&mut task, reason, false);' a_child_that_ends_outside
mutate "restore command resets the other parameters" functions/shared/src/domain/refresh/verdict.rs \
  'parameters.push_str(&format!(" ParameterKey={key},UsePreviousValue=true"));' 'let _ = key; parameters.push_str(std::hint::black_box(""));' a_failed_phase_two
mutate "a version current again after its run ended starts nothing" functions/shared/src/service/trigger.rs \
  'Some(event_ms) if !earlier.running && earlier.started_ms < event_ms => {' 'Some(event_ms) if !earlier.running && earlier.started_ms < event_ms && std::hint::black_box(false) => {' a_version_current_again trigger
mutate "no on-failure destination for the trigger" template.yaml \
  '            Destination: !GetAtt TriggerFailuresQueue.Arn' '            Destination: !Ref AlertsTopic' a_trigger_that_fails_for_good contracts
mutate "cleanup failures not looked for after phase one" functions/shared/src/domain/refresh/mod.rs \
  '                for f in orphans(failed?) {' '                for f in orphans(failed?).take(0) {' refused_updates_and_cleanup state_machine
mutate "stack policy not judged before phase one" functions/shared/src/domain/stack_policy.rs \
  'applies("Deny") || !applies("Allow")' 'std::hint::black_box(false) && applies("Deny")' a_stack_policy_protecting refresh
mutate "emulator ignores stack policies" tests/emulator/rotatetoken/cloudformation/updates.py \
  '        denied = denied_by_stack_policy(stack, template, resolved)' '        denied = []' the_emulator_rolls_back_an_update emulator
mutate "StackSet instances updated directly" functions/shared/src/domain/selection.rs \
  'if let Some(rest) = snapshot.stack.name.strip_prefix("StackSet-") {' 'if let Some(rest) = snapshot.stack.name.strip_prefix("StackSet-").filter(|_| false) {' a_stackset_instance refresh
mutate "phase one's other changes not previewed" functions/shared/src/domain/planning.rs \
  '    let side = side_changes(planned, guarded, tokens);' '    let side: Vec<String> = side_changes(planned, guarded, tokens).into_iter().take(0).collect();' a_phase_one_that_would_change refresh
# Issue 8, point 5: nested stacks.
mutate "nested stacks not judged before phase one" functions/shared/src/domain/nested.rs \
  '        let children = directory.nested_stacks(&stack).await?;' '        let children: Vec<crate::ports::NestedStack> = { let _ = &stack; Vec::new() };' a_data_holder_in_a_nested_stack refresh
mutate "unreachable nested stacks not reported" functions/shared/src/domain/discovery.rs \
  '            if consumer {' '            if consumer && std::hint::black_box(false) {' nested_stacks_select_their_root discover
mutate "emulator replaces nested stacks instead of updating them in place" tests/emulator/rotatetoken/cloudformation/nested.py \
  '    cfn_models.Stack.update_from_cloudformation_json = classmethod(update)' '    pass  # mutation' a_nested_stack_is_refreshed refresh
mutate "cleanup failures inside nested stacks not looked for" functions/shared/src/domain/refresh/mod.rs \
  '                    for reached in members.into_iter().filter(|m| !m.deleted_whole) {' '                    for reached in members.into_iter().filter(|m| !m.deleted_whole).take(0) {' a_cleanup_failure_inside_a_nested refresh
mutate "a dry run does not predict refused updates" functions/shared/src/domain/discovery.rs \
  '                task.reason = j.would_fail.clone();' '                task.reason = j.would_fail.clone().filter(|_| std::hint::black_box(false));' a_dry_run_predicts discover
mutate "nested change sets not read in the preview" functions/shared/src/aws/cloudformation/change_sets.rs \
  '            .include_nested_stacks(true)' '            .include_nested_stacks(false)' what_phase_one_would_change_inside refresh
# Issue 9: a secret change touches only what it should.
mutate "the refresh function takes the token parameter from its input" functions/shared/src/service/refresh.rs \
  '    if task.parameter != configured {' '    if task.parameter != configured && std::hint::black_box(false) {' a_task_naming_another_parameter lib
mutate "a bare name matches stacks in any account" functions/shared/src/domain/model/secret.rs \
  '        if stack.account == self.account() && here {' '        if std::hint::black_box(true) || (stack.account == self.account() && here) {' a_name_selects_stacks targets
mutate "a change to a secret outside SecretNamePrefixes starts a run" functions/shared/src/service/trigger.rs \
  '    if !t.scope.admits(&named) {' '    if !t.scope.admits(&named) && std::hint::black_box(false) {' out_of_scope state_machine
mutate "discovery's sessions in the target role may write" functions/discover/src/main.rs \
  '    let access = AssumedRoles::new(&aws, scope.targets.clone()).read_only();' '    let access = AssumedRoles::new(&aws, scope.targets.clone());' across_accounts iam
mutate "emulator ignores session policies" tests/emulator/rotatetoken/request_log.py \
  '            if limited and not _session_policy_allows(limited[0], action):' '            if False:' a_read_only_session targets
mutate "the target role may not read nested templates" target-role.yaml \
  $'                - Sid: ReadNestedTemplates\n                  Effect: Allow\n                  Action: s3:GetObject' $'                - Sid: ReadNestedTemplates\n                  Effect: Allow\n                  Action: s3:ListBucket' across_accounts iam
mutate "an AWS error during discovery's checks reported as a skip" functions/shared/src/domain/discovery.rs \
  '        Err(e) => return Err(not_checked(e)),' '        Err(e) => return Err(Before::Skip(e.to_string())),' an_aws_error_during_the_checks lib
mutate "storms: a change while a run holds the secret starts another run" functions/shared/src/domain/run_lock.rs \
  '        HolderState::Running => true,' '        HolderState::Running => false,' waits_for_it trigger
mutate "storms: a lock whose run ended is never taken over" functions/shared/src/domain/run_lock.rs \
  '        HolderState::Ended => false,' '        HolderState::Ended => true,' lost_end runs
mutate "storms: the end of a run does not start the run that waited" functions/shared/src/domain/run_lock.rs \
  '        Some(lock) if lock.holder == ended => match &lock.pending {' '        Some(lock) if lock.holder == ended && std::hint::black_box(false) => match &lock.pending {' the_end_of_a_run trigger
mutate "a function's resource widened to *" template.yaml \
  '              Resource: !Sub ${RunsBucket.Arn}/locks/*' '              Resource: "*"' boundary iam
mutate "the target role's external-ID condition dropped" target-role.yaml \
  $'            Condition:\n              StringEquals:\n                sts:ExternalId: !Ref ExternalId\n' '' boundary iam
mutate "RequireOptInTag ignored: untagged stacks are selected and updated" functions/shared/src/domain/selection.rs \
  '    (required && !tagged && !at_false).then(|| {' '    (std::hint::black_box(false) && required && !tagged && !at_false).then(|| {' opt_in discover
mutate "a stack left at false is skipped for want of the opt-in tag" functions/shared/src/domain/selection.rs \
  '    (required && !tagged && !at_false).then(|| {' $'    let _ = at_false;\n    (required && !tagged).then(|| {' opted_in lib
mutate "a stack without a service role is updated with the pipeline's power" functions/shared/src/domain/service_role.rs \
  '    (!has_role && !allowed.allows(&snapshot.stack.id)).then(|| {' '    (std::hint::black_box(false) && !has_role && !allowed.allows(&snapshot.stack.id)).then(|| {' without_a_service_role lib
mutate "a task claiming phase two skips the service-role check" functions/shared/src/domain/refresh/verdict.rs \
  '    if let Some(reason) = borrows_pipeline_power(snapshot, without_service_role) {' '    if let Some(reason) =
        borrows_pipeline_power(snapshot, without_service_role).filter(|_| task.phase == Phase::Disable)
    {' claims_phase_two lib
mutate "a stack's service role is not read from DescribeStacks" functions/shared/src/aws/cloudformation/mod.rs \
  '        service_role: stack.role_arn().map(str::to_string),' '        service_role: None,' without_a_service_role operator
mutate "a dry run plans a refused stack as would_refresh" functions/shared/src/domain/discovery.rs \
  $'        (None, Some(reason)) if consumer && dry_run => Before::WouldFail(reason),\n' '' without_a_service_role operator
mutate "emulator: an update without RoleARN drops the stack's service role" tests/emulator/rotatetoken/cloudformation/real_shapes.py \
  'original(self, template, role_arn or getattr(self, "role_arn", None), *args, **kwargs)' 'original(self, template, role_arn, *args, **kwargs)' keeps_the_stacks_service_role emulator:test_real_shapes
mutate "the target role may use the guarded-resource policy outside CloudFormation" target-role.yaml \
  $'              - Sid: OtherCallsOnlyThroughCloudFormation\n                Effect: Deny\n' $'              - Sid: OtherCallsOnlyThroughCloudFormation\n                Effect: Allow\n' boundary iam
mutate "the target role may use the guarded-resource policy for any CloudFormation call" target-role.yaml \
  $'                NotAction:\n                  - cloudformation:DescribeStacks\n' $'                NotAction:\n                  - cloudformation:*\n' boundary iam
mutate "without targets the refresh role's CalledVia Deny also denies its own run files" template.yaml \
  $'                  - s3:PutObject\n                  - s3:ListBucket\n                  - states:SendTaskSuccess\n' $'                  - s3:ListBucket\n                  - states:SendTaskSuccess\n' boundary iam
mutate "an in-place stack without a service role is updated" functions/shared/src/domain/refresh/in_place_start.rs \
  '        &settings.without_service_role,' '        &StacksWithoutServiceRole::any(),' in_place_stack_without lib
mutate "discovery assumes the updater role" functions/shared/src/aws/targets.rs \
  '        self.role_name = self.settings.reader_role_name();' '' read_only_session targets
mutate "the updater role trusts discovery's principals" target-role.yaml \
  '              AWS: !Ref UpdaterRoleArns' '              AWS: !Ref ReaderRoleArns' boundary iam
mutate "the reader role may update stacks" target-role.yaml \
  $'                Action:\n                  - cloudformation:CreateChangeSet\n                  - cloudformation:DescribeChangeSet\n                  - cloudformation:DeleteChangeSet\n                Resource: !Sub arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stack/*/*\n                Condition: !If\n                  - LimitsUpdates\n                  - StringEquals:\n                      aws:RequestedRegion: !If [HasRegions, !Ref TargetRegions, !Ref AWS::NoValue]\n                      aws:ResourceTag/rotatetoken:opt-in: !If [RequiresOptIn, "true", !Ref AWS::NoValue]\n                  - !Ref AWS::NoValue\n              # A preview' $'                Action:\n                  - cloudformation:CreateChangeSet\n                  - cloudformation:DescribeChangeSet\n                  - cloudformation:DeleteChangeSet\n                  - cloudformation:UpdateStack\n                Resource: !Sub arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stack/*/*\n                Condition: !If\n                  - LimitsUpdates\n                  - StringEquals:\n                      aws:RequestedRegion: !If [HasRegions, !Ref TargetRegions, !Ref AWS::NoValue]\n                      aws:ResourceTag/rotatetoken:opt-in: !If [RequiresOptIn, "true", !Ref AWS::NoValue]\n                  - !Ref AWS::NoValue\n              # A preview' boundary iam
mutate "the discover role may assume the updater role" template.yaml \
  '                Resource: !Sub arn:${AWS::Partition}:iam::*:role/${TargetRoleName}Reader' '                Resource: !Sub arn:${AWS::Partition}:iam::*:role/${TargetRoleName}*' boundary iam
mutate "in OU targets the discover role may assume the updater role" template.yaml \
  $'              - Sid: AssumeTheTargetRolesInTheOUs\n                Effect: Allow\n                Action: sts:AssumeRole\n                Resource: !Sub arn:${AWS::Partition}:iam::*:role/${TargetRoleName}Reader\n' $'              - Sid: AssumeTheTargetRolesInTheOUs\n                Effect: Allow\n                Action: sts:AssumeRole\n                Resource: !Sub arn:${AWS::Partition}:iam::*:role/${TargetRoleName}*\n' boundary iam
mutate "emulator: the request log names every assumed session the updater's" tests/emulator/rotatetoken/sts.py \
  'ASSUMED_ROLES[role.access_key_id] = role_arn.rsplit("/", 1)[-1]' 'ASSUMED_ROLES[role.access_key_id] = "RotateTokenTarget"' across_accounts iam
mutate "a stack kept back by a stop is reported skipped" functions/shared/src/service/refresh.rs \
  '            out.outcome = Outcome::Stopped;' '            out.outcome = Outcome::Skipped;' a_stop_lets operator
mutate "a stopped run ends as a success" functions/shared/src/domain/report/mod.rs \
  '        run_failed: counts.failed > 0 || counts.failed_targets > 0 || counts.stopped > 0,' '        run_failed: counts.failed > 0 || counts.failed_targets > 0,' a_stop_lets operator
mutate "any principal of the account may write a stop marker" template.yaml \
  $'          - Sid: OnlyOperatorsStopRuns\n            Effect: Deny\n' $'          - Sid: OnlyOperatorsStopRuns\n            Effect: Allow\n' boundary iam
mutate "any principal of the account may delete locks and run files" template.yaml \
  $'          - Sid: OnlyThePipelineDeletes\n            Effect: Deny\n' $'          - Sid: OnlyThePipelineDeletes\n            Effect: Allow\n' boundary iam
mutate "an ARN built with Fn::Sub is not resolved" functions/shared/src/domain/built_refs.rs \
  '                ("Fn::Sub", Value::String(text)) => substitute(text, &[], snapshot),' '                ("Fn::Sub", Value::String(text)) => text.clone(),' a_name_selects targets
mutate "a built reference that cannot be resolved is taken for no reference" functions/shared/src/domain/built_refs.rs \
  '                if text.contains(UNKNOWN) && may_be_the_secret(&text, secret) {' '                if std::hint::black_box(false) && text.contains(UNKNOWN) && may_be_the_secret(&text, secret) {' a_name_selects targets
mutate "discovery drops a consumer it cannot judge" functions/shared/src/domain/discovery.rs \
  $'                        not_judged = Some(why);\n                        true\n' $'                        not_judged = Some(why);\n                        false\n' a_name_selects targets
mutate "a replica's ARN is not the secret's" functions/shared/src/domain/model/secret.rs \
  '                .filter(|r| !r.is_empty())' '                .filter(|r| r.is_empty())' replica runs
mutate "the secret's name means nothing in a replica's region" functions/shared/src/domain/model/secret.rs \
  '        let here = stack.region == self.region() || self.replica_regions.contains(&stack.region);' '        let here = stack.region == self.region();' a_replicas_arn lib
mutate "a secret whose replicas cannot be read is searched as if it had none, silently" functions/shared/src/service/discover.rs \
  '    out.failed_targets.extend(replicas_unread);' '    drop(replicas_unread);' a_name_selects targets
mutate "a source account's secret is admitted by a name prefix" functions/shared/src/domain/secret_scope.rs \
  '                || (by_name && !p.starts_with("arn:")' '                || ((std::hint::black_box(true) || by_name) && !p.starts_with("arn:")' source_account lib
mutate "a failed replica's region is taken for the secret's" functions/shared/src/domain/model/secret.rs \
  '            if r.in_sync() {' '            if std::hint::black_box(true) {' only_replicas_in_sync lib
mutate "an earlier run is taken for a later one" functions/shared/src/domain/coalesce.rs \
  '        .filter(|l| (l.since_ms, &l.holder) > (own.since_ms, &own.holder))' '        .filter(|_| std::hint::black_box(true))' later_runs_are lib
mutate "a stack is left to a run of a secret it does not consume" functions/shared/src/service/coalesce.rs \
  '            || mentions_secret(&body, &secret)' '            || std::hint::black_box(true)' an_incidents_rotations coalesce
mutate "coalescing never leaves a stack to a later run" functions/shared/src/service/discover.rs \
  '    let board = store.filter(|_| settings.coalesce && !input.dry_run && !reconcile);' '    let board = store.filter(|_| std::hint::black_box(false) && settings.coalesce && !input.dry_run && !reconcile);' an_incidents_rotations coalesce
mutate "the audit ignores --since" functions/shared/src/domain/audit.rs \
  '        Some(since) if current.created_ms < since && j.freshness == Freshness::Fresh => {' '        Some(since) if std::hint::black_box(false) && current.created_ms < since && j.freshness == Freshness::Fresh => {' since_a_moment lib
mutate "a secret not rotated since the moment needs no attention" functions/shared/src/service/audit.rs \
  '            && !self.not_rotated_since' '            && std::hint::black_box(true)' an_incident_audit operator
mutate "an incident audit includes secrets outside the pattern" cli/src/commands/mod.rs \
  '        .filter(|s| matches_any(patterns, &s.name))' '        .filter(|s| std::hint::black_box(true) || matches_any(patterns, &s.name))' an_incident_audit operator
mutate "an incident's report lets the last run's row decide a stack (a failure hidden by a later refresh)" functions/shared/src/domain/incident.rs \
  '        if worst.is_none_or(|(w, _)| standing < w) {' '        if std::hint::black_box(true) || worst.is_none_or(|(w, _)| standing < w) {' a_failure_in_any_run_stands lib
mutate "an incident's report takes a stack left to one run as refreshed by any other" functions/shared/src/domain/incident.rs \
  '        .filter(|s| s.run == run)' '        .filter(|s| std::hint::black_box(true) || s.run == run)' confirmed_only_by_that_run lib
mutate "an incident's run whose summary cannot be read is taken for done" functions/shared/src/domain/incident.rs \
  '        } else if summary.is_none() {' '        } else if std::hint::black_box(false) && summary.is_none() {' a_run_not_started_need_attention lib
mutate "an incident's report takes a skipped consumer for done (it keeps the exposed value)" functions/shared/src/domain/incident.rs \
  '        !matches!(self, Standing::Refreshed | Standing::WouldRefresh)' '        !matches!(self, Standing::Refreshed | Standing::WouldRefresh | Standing::Skipped)' a_skipped_consumer_needs_attention lib
mutate "a secret not rotated since ReconcileSince is refreshed by the scheduled audit (re-reading the exposed value)" functions/shared/src/domain/reconcile.rs \
  '            (Self::Refresh, Some(since)) => current_created_ms.is_none_or(|c| c < since),' '            (Self::Refresh, Some(since)) => std::hint::black_box(false) && current_created_ms.is_none_or(|c| c < since),' not_rotated_since_the_moment lib
mutate "the scheduled audit ignores ReconcileSince" functions/shared/src/service/audit.rs \
  '            .map(|j| audit::judged_since(j, &current, since_ms))' '            .map(|j| audit::judged_since(j, &current, std::hint::black_box(None)))' the_scheduled_audit_since coalesce
mutate "incident start starts a run at once for a change whose own run has not appeared yet (no grace)" cli/src/commands/incident.rs \
  '    if now_ms < created_ms.saturating_add(grace_ms) {' '    if std::hint::black_box(false) && now_ms < created_ms.saturating_add(grace_ms) {' the_operator_plans_follows coalesce
mutate "incident start starts a run another run of its secret still holds back (outside storm control)" cli/src/commands/incident.rs \
  '        if holder_running {' '        if std::hint::black_box(false) && holder_running {' the_pipeline_holds_back cli
mutate "UnusualRunsAlarm counts the runs started (an incident's rotations fire it)" template.yaml \
  '      MetricName: ChangesDeferred' '      MetricName: RunsStarted' an_incidents_rotations coalesce
mutate "incident start names its runs apart from the trigger's (a change run twice)" cli/src/commands/incident.rs \
  '            let name = execution_name(&c.secret.arn, &c.version);' '            let name = rotatetoken::domain::run_names::rerun_execution_name(&c.secret.arn, &c.version, now_ms());' the_operator_plans_follows coalesce
mutate "a hand-started run for a secret outside SecretNamePrefixes is searched" functions/shared/src/service/discover.rs \
  '    if let Some(scope) = settings.secret_scope.as_ref().filter(|s| !s.admits(&parsed)) {' '    if let Some(scope) = settings.secret_scope.as_ref().filter(|_| parsed.arn.is_empty()) {' outside_the_deployments_scope lib
mutate "a long execution name loses its hash in the STS session name" functions/shared/src/domain/targets.rs \
  '    let tail = &cleaned[cleaned.len() - TAIL..];' '    let tail = &cleaned[room - TAIL..room];' long_named_secret lib
mutate "the failure queue takes undeliverable events from other stacks' rules" template.yaml \
  $'              ArnEquals:\n                aws:SourceArn:\n                  - !GetAtt TriggerFunctionSecretValueChanged.Arn\n' $'              ArnLike:\n                aws:SourceArn:\n                  - !Sub arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${AWS::StackName}-*\n                  - !GetAtt TriggerFunctionSecretValueChanged.Arn\n' boundary iam
mutate "the target role's opt-in tag condition dropped" target-role.yaml \
  $'                      aws:ResourceTag/rotatetoken:opt-in: !If [RequiresOptIn, "true", !Ref AWS::NoValue]\n' '' boundary iam
mutate "the refresh role may update stacks in any region" template.yaml \
  $'                  - cloudformation:DeleteChangeSet\n                Resource: !Sub arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stack/*/*\n                Condition:\n                  StringEquals:\n                    aws:RequestedRegion: !If [HasTargetRegions, !Ref TargetRegions, [!Ref AWS::Region]]\n                    aws:ResourceTag/rotatetoken:opt-in: !If [RequiresOptIn, "true", !Ref AWS::NoValue]\n            # UpdateStack re-expands' $'                  - cloudformation:DeleteChangeSet\n                Resource: !Sub arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stack/*/*\n                Condition:\n                  StringEquals:\n                    aws:ResourceTag/rotatetoken:opt-in: !If [RequiresOptIn, "true", !Ref AWS::NoValue]\n            # UpdateStack re-expands' boundary iam
mutate "the new-template alert also fires on CloudFormation's nested updates" target-role.yaml \
  $'            invokedBy: [{ exists: false }]\n' '' new_template iam
mutate "the report function may not decrypt with the alerts key" template.yaml \
  $'                - kms:GenerateDataKey\n                - kms:Decrypt\n' $'                - kms:GenerateDataKey\n' in_its_own_account iam
mutate "in-place: a database the update would replace is not refused" functions/shared/src/domain/in_place.rs \
  '                    && DATA_HOLDING_TYPES.contains(&c.resource_type.as_str())' '                    && std::hint::black_box(DATA_HOLDING_TYPES).is_empty()' in_place_and_classic runs
mutate "in-place: the token wins over the version parameter" functions/shared/src/domain/in_place.rs \
  $'    if snapshot.parameter(version).is_some() {\n        Some(RefreshMode::InPlace)\n    } else if snapshot.parameter(token).is_some() {\n        Some(RefreshMode::TwoPhase)' $'    if snapshot.parameter(token).is_some() {\n        Some(RefreshMode::TwoPhase)\n    } else if snapshot.parameter(version).is_some() {\n        Some(RefreshMode::InPlace)' in_place lib
mutate "in-place: the stack is pinned to the version the input names" functions/shared/src/domain/refresh/in_place_start.rs \
  '    let Some(current) = versions.current().map(str::to_string) else {' '    let Some(current) = task.version.clone().or(versions.current().map(str::to_string)) else {' forged_version refresh
mutate "a dry run's plan is not reported" functions/shared/src/domain/report/mod.rs \
  $'                plan: selected.plan.clone(),\n' '' in_place_and_classic runs
mutate "emulator: every update replaces the resource" tests/emulator/rotatetoken/cloudformation/replacement.py \
  '    if replacing:' '    if True:' updates_in_place emulator
mutate "emulator: a parameter reached through Fn::Sub changes nothing" tests/emulator/rotatetoken/cloudformation/conditions.py \
  '        if declared_properties(resource_json, self) != existing.rt_props:' '        if False:' updates_in_place emulator
mutate "operator stop: the marker is ignored" functions/shared/src/service/refresh.rs \
  '        if stopped {' '        if stopped && std::hint::black_box(false) {' a_stop operator
mutate "operator stop: the marker is read only for a task that says nothing has begun" functions/shared/src/service/refresh.rs \
  '            None => stop_asked(marker.clone()).await?,' '            None => std::hint::black_box(false),' a_task_claiming_more operator
mutate "a task saying its update began starts its phase without the stop and lane checks" functions/shared/src/domain/refresh/mod.rs \
  '            if never_begun && settings.wait_for_events {' '            if never_begun && settings.wait_for_events && std::hint::black_box(false) {' a_task_claiming_more operator
mutate "a look that finds phase one done hands back a pause before phase two" functions/shared/src/domain/refresh/mod.rs \
  '            let never_begun = ours == OurUpdate::NotBegun;' '            let never_begun = std::hint::black_box(true) || ours == OurUpdate::NotBegun;' the_look_that_finds_phase_one_done lib
mutate "operator stop: a stack between phases is stopped too (left at false)" functions/shared/src/service/refresh.rs \
  '    let not_begun = !task.update_started && task.phase == Phase::Disable;' '    let not_begun = std::hint::black_box(true) || (!task.update_started && task.phase == Phase::Disable);' a_stop operator
mutate "audit: a guarded resource older than the version counts as fresh" functions/shared/src/domain/audit.rs \
  '            Some(r) if r.updated_ms < current.created_ms => stale.push(format!(' '            Some(r) if r.updated_ms < current.created_ms && std::hint::black_box(false) => stale.push(format!(' audit lib
mutate "reconciliation: fresh stacks are refreshed too" functions/shared/src/service/audit.rs \
  '        if j.freshness == Freshness::Fresh {' '        if false {' the_scheduled_reconciliation operator
mutate "reconciliation: the default alert-only action refreshes" functions/shared/src/service/trigger.rs \
  '                dry_run: t.reconcile.alert_only(since_ms, created_ms),' '                dry_run: std::hint::black_box(false) && t.reconcile.alert_only(since_ms, created_ms),' the_schedule_starts trigger
mutate "reconciliation: it takes the place of a change waiting behind a run" functions/shared/src/domain/run_lock.rs \
  '    if run.input.reconcile {' '    if false {' a_reconciliation_never lib
mutate "reconciliation: no STALE alert" functions/shared/src/domain/notice.rs \
  '    let reconciling = summary.cause == super::model::RECONCILE_CAUSE && summary.dry_run;' '    let reconciling = false;' stale_alert lib
mutate "emulator: resource times are moto's (the stack's creation)" tests/emulator/rotatetoken/cloudformation/replacement.py \
  '        resource.rt_updated_at = utcnow()' '        pass' the_operator operator
mutate "emulator: a version's creation date is the time of the call (moto)" tests/emulator/rotatetoken/secretsmanager.py \
  '            v["CreatedDate"] = round(at, 3)' '            v["CreatedDate"] = round(time.time(), 3)' the_operator operator
mutate "emulator: a misspelt control key is accepted and silently ignored" tests/emulator/rotatetoken/control.py \
  '            return _refused(refusal)  # validated whole before anything is applied' '            pass' a_misspelt_control_key emulator
mutate "the runs bucket lets operators write any run file" template.yaml \
  '            NotResource: !Sub ${RunsBucket.Arn}/runs/*/stop.json' '            NotResource: !Sub ${RunsBucket.Arn}/*' boundary iam
mutate "the refresh role cannot tell a missing stop marker from a denied one (no ListBucket)" template.yaml \
  $'            - Sid: TellAMissingStopMarkerFromADeniedOne\n              Effect: Allow\n              Action: s3:ListBucket\n' $'            - Sid: TellAMissingStopMarkerFromADeniedOne\n              Effect: Allow\n              Action: s3:ListAllMyBuckets\n' in_its_own_account iam
mutate "the trigger cannot tell a missing lock from a denied one (no ListBucket)" template.yaml \
  $'            - Sid: TellAMissingLockFromADeniedOne\n              Effect: Allow\n              Action: s3:ListBucket\n' $'            - Sid: TellAMissingLockFromADeniedOne\n              Effect: Allow\n              Action: s3:ListAllMyBuckets\n' in_its_own_account iam
mutate "a finished update is noticed only at the next fixed poll interval" functions/shared/src/domain/refresh/mod.rs \
  '    (age_ms / 10).clamp(shortest, settings.poll_interval_ms)' '    { let _ = (age_ms, shortest); settings.poll_interval_ms }' noticed_within lib
mutate "a CA bundle with a certificate the SDK cannot parse is trusted (the SDK would panic)" functions/shared/src/aws/tls.rs \
  '    (!certificates.is_empty() && all_anchors)' '    (!certificates.is_empty() || all_anchors)' unparsable lib
mutate "AWS_CA_BUNDLE (a corporate proxy's CA) is ignored" functions/shared/src/aws/tls.rs \
  'std::env::var_os("AWS_CA_BUNDLE")' 'std::env::var_os("AWS_CA_BUNDLE_IGNORED")' aws_ca_bundle lib
mutate "the execution output keeps every row of a small run whatever its size (DataLimitExceeded)" functions/shared/src/domain/report/mod.rs \
  '    if too_many || json_len(&summary) > MAX_OUTPUT_BYTES {' '    if too_many {' payload_limit lib
mutate "a large run's output keeps refreshed rows instead of the ones that need attention" functions/shared/src/domain/report/mod.rs \
  '        summary.stacks.retain(needs_attention);' '        summary.stacks.retain(|r| !needs_attention(r));' need_attention lib
mutate "a cut of the output or the failure cause leaves out critical rows first" functions/shared/src/domain/report/mod.rs \
  '    (!r.critical, !needs_attention(r))' '    (false, !needs_attention(r))' critical_rows_are_the_last lib
# Issue 22: real shapes.
mutate "a put whose response leaves out the version is refused (the request's token ignored)" functions/shared/src/domain/trigger.rs \
  '                    Some(token) => VersionClue::RequestToken(token.to_string()),
                    None => VersionClue::Current,' '                    Some(_) => return Err(InputError::missing("detail.responseElements.versionId")),
                    None => VersionClue::Current,' records_as_each_caller trigger
mutate "a rolled-back update is reported without its resources' reasons (which keys of which secret)" functions/shared/src/domain/refresh/mod.rs \
  '        if task.update_started && class == StatusClass::RolledBack {' '        if task.update_started && class == StatusClass::RolledBack && std::hint::black_box(false) {' a_new_value_without_a_key real_shapes
mutate "the emulator keeps a change-set stack's template as created ({}): cdk deploy stacks break" tests/emulator/rotatetoken/cloudformation/real_shapes.py \
  '    stack._parse_template()' '    pass' stacks_as_the_cdk real_shapes
# Issue 23: the functions as SAM runs them.
mutate_local "under sam local invoke, an AWSPENDING-only put is taken for a current value" functions/shared/src/domain/trigger.rs \
  '                if !stages.iter().any(|s| s == CURRENT) {' '                if false {'
# Issue 24: the house rules and the contracts are checked, not copied.
mutate "the model imports a behaviour module (an import circle)" functions/shared/src/domain/model/step.rs \
  'use super::{PlannedUpdate, RefreshMode, SecretRef, StackRef, StackSnapshot, StackWait};' $'use super::{PlannedUpdate, RefreshMode, SecretRef, StackRef, StackSnapshot, StackWait};\n#[allow(unused_imports)]\nuse crate::domain::refresh::RefreshSettings;' the_ module_graph
mutate "the state machine reads a path no Rust type writes" statemachine/rotatetoken.asl.json \
  '"Key.$": "$.run.items_key"' '"Key.$": "$.run.item_key"' every_path_the_state_machine_reads contracts

mutate "a function reads a variable the template does not set for it" functions/shared/src/config.rs \
  $'pub fn report() -> ReportConfig {\n    ReportConfig {' $'pub fn report() -> ReportConfig {\n    let _ = reconcile_action();\n    ReportConfig {' each_function_is_set contracts
# Issue 25: progress from AWS's own state, no authority in the payload.
mutate "a retried invocation forgets the phase one it started (a stop then leaves the stack at false)" functions/shared/src/domain/refresh/operations.rs \
  $'continuing it");\n            task.update_started = true;' $'continuing it");' a_retry_after refresh
mutate "a retried invocation forgets the phase one it started (through the state machine)" functions/shared/src/domain/refresh/operations.rs \
  $'continuing it");\n            task.update_started = true;' $'continuing it");' a_stop_during from_aws_state
mutate "emulator: stack events carry no ClientRequestToken" tests/emulator/rotatetoken/cloudformation/request_tokens.py \
  '    self.client_request_token = OPERATION_TOKENS.get(stack_id)' '    self.client_request_token = None' a_retry_after refresh
mutate "a task can say the data-loss guard passed" functions/shared/src/domain/model/step.rs \
  $'    #[serde(skip)]\n    pub guard_passed: bool,' $'    #[serde(default)]\n    pub guard_passed: bool,' a_task_saying_the_guard data_loss_guard
mutate "the guard runs only when the token is exactly true" functions/shared/src/domain/refresh/start.rs \
  '        != Some("false");' '        == Some("true");' the_guard_runs_whenever lib
mutate "a phase one that rolled back is refreshed when another update set true" functions/shared/src/domain/refresh/mod.rs \
  '        OurUpdate::Ended(status) => (classify_status(&status), status),' '        OurUpdate::Ended(_) => (class, snapshot.status.clone()),' a_phase_one_that_rolled_back lib
mutate "the guard runs only when the token is exactly true (through the state machine)" functions/shared/src/domain/refresh/start.rs \
  '        != Some("false");' '        == Some("true");' a_not_false_condition from_aws_state
mutate "a phase one that rolled back before someone's deploy is refreshed (through the state machine)" functions/shared/src/domain/refresh/mod.rs \
  '        OurUpdate::Ended(status) => (classify_status(&status), status),' '        OurUpdate::Ended(_) => (class, snapshot.status.clone()),' a_phase_one_that_rolled_back_before from_aws_state
mutate "two-phase accepts the token replacing a data holder" functions/shared/src/domain/guard.rs \
  $'    if allows_data_loss {\n        return None;\n    }\n    let replaced' $'    if allows_data_loss || std::hint::black_box(true) {\n        return None;\n    }\n    let replaced' a_data_holder_the_token_itself lib
mutate "the report writes the run files before it alerts (an S3 failure loses the CRITICAL alert)" functions/shared/src/service/report.rs \
  '    for n in notice::notices(&summary) {' $'    if let (Some(run), Some(store)) = (&run, store) {\n        store.put(&run.summary_key(), vec![]).await?;\n    }\n    for n in notice::notices(&summary) {' the_critical_alert_goes_out lib
mutate "phase one carries no request token (a retried invocation redoes the refresh)" functions/shared/src/domain/refresh/mod.rs \
  '        Phase::Disable => phase_one_token(task),' '        Phase::Disable => phase_one_token(task).filter(|_| false),' a_refresh_that_times_out runs
mutate "emulator: an invocation told to time out after its run returns its result" tests/emulator/rotatetoken/lambda_bridge.py \
  '        if pending > 0 and "x-amz-function-error" not in response_headers:' '        if False:' a_refresh_that_times_out runs
mutate "a task that names phase two skips phase one and its guard" functions/shared/src/domain/refresh/operations.rs \
  '    } else if task.mode.is_two_phase() && task.phase != Phase::Disable {' '    } else if task.mode.is_two_phase() && task.phase != Phase::Disable && std::hint::black_box(false) {' a_task_cannot_skip_phase_one lib

mutate "a claim whose run never started is taken for a run under way (its retry starts nothing)" functions/shared/src/domain/run_lock.rs \
  '    if holder != HolderState::NotStarted {' '    if holder != HolderState::NotStarted || std::hint::black_box(true) {' a_claim_whose_run_never faults
mutate "a hand-over that died before starting the next run is not finished by its retry" functions/shared/src/service/trigger.rs \
  '                if let Some(lock) = lock {' '                if let Some(lock) = lock.filter(|_| false) {' a_hand_over_that_died trigger
mutate "a reconciliation taking over an ended holder drops the change that waited" functions/shared/src/domain/run_lock.rs \
  '            Some(waiting) if run.input.reconcile => waiting.clone(),' '            Some(waiting) if run.input.reconcile && std::hint::black_box(false) => waiting.clone(),' a_reconciliation_taking_over lib
mutate "emulator: a killed invocation's later calls still reach AWS" tests/emulator/rotatetoken/crashes.py \
  '        if dead:' '        if False:' a_hand_over_that_died trigger
mutate "a crashed refresh (Runtime.ExitError) is not retried" statemachine/rotatetoken.asl.json \
  '"Runtime.ExitError",' '' the_state_machine_names_exactly contracts
mutate "a Map that fails for good is not caught (no fallback alert)" statemachine/rotatetoken.asl.json \
  $'"Next": "Report",\n      "Catch": [\n        {\n          "ErrorEquals": [\n            "States.ALL"' $'"Next": "Report",\n      "Catch": [\n        {\n          "ErrorEquals": [\n            "States.Timeout"' a_map_that_cannot faults
mutate "a Report that fails for good is not caught (no fallback alert)" statemachine/rotatetoken.asl.json \
  $'"Next": "AnyFailed?",\n      "Catch": [\n        {\n          "ErrorEquals": [\n            "States.ALL"' $'"Next": "AnyFailed?",\n      "Catch": [\n        {\n          "ErrorEquals": [\n            "States.Timeout"' a_report_that_cannot faults
mutate "the fallback alert reads a field no one writes" statemachine/rotatetoken.asl.json \
  '$$.Execution.Name, $.secret.arn, $.dry_run' '$$.Execution.Name, $.secret.arn_, $.dry_run' every_path_the_state_machine contracts
mutate "the fallback alert's subject is too long for SNS" statemachine/rotatetoken.asl.json \
  '"Subject": "CRITICAL: a RotateToken run ended without its report"' '"Subject": "CRITICAL: a RotateToken run ended without its report, which can happen when the Map or the Report failed for good"' a_map_or_report_that_fails contracts
mutate "emulator: a denied S3 write is written" tests/emulator/rotatetoken/s3.py \
  '        if any(fnmatch.fnmatchcase(key, p) for p in patterns):' '        if False:' a_map_that_cannot faults
mutate "an aborted run is not told to the operators" functions/shared/src/domain/run_lock.rs \
  '        !self.dry_run && matches!(self.status.as_str(), "ABORTED" | "TIMED_OUT")' '        !self.dry_run && matches!(self.status.as_str(), "TIMED_OUT")' an_aborted_run faults
mutate "an aborted dry run raises a CRITICAL alert" functions/shared/src/domain/run_lock.rs \
  '        !self.dry_run && matches!' '        matches!' a_run_cut_short lib
mutate "the refresh function acts for a stack no run selected" functions/shared/src/service/refresh.rs \
  '                Some(files) => selected_by_its_run(files, &asked).await,' '                Some(files) => { let _ = selected_by_its_run(files, &asked).await; Ok::<(), FunctionError>(()) }' every_shipped_event local_invoke
mutate "a resource shown only at false is taken for a guarded one" functions/shared/src/domain/conditions.rs \
  '    holds_with(template, condition, parameter, "true") != Some(false)
        && holds_with(template, condition, parameter, "false") != Some(true)' '    let _ = (template, condition, parameter);
    true' what_false_deletes lib

mutate "how our update ended read from the stack's status now, not its own events" functions/shared/src/domain/refresh/mod.rs \
  '    let Some(token) = token else {
        return Ok(OurUpdate::Untracked);' '    let Some(token) = token.filter(|_| false) else {
        return Ok(OurUpdate::Untracked);' a_second_runs_failed_phase_two lib
mutate "emulator: a rolled-back update's end missing from its events" tests/emulator/rotatetoken/cloudformation/common.py \
  '    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
' '' a_failed_phase_two_fails state_machine

# Waiting on CloudFormation's events (issue 26): what wakes a step, and what it costs.
mutate "a wait for our update is woken by any end of the stack" functions/shared/src/domain/waiting.rs \
  '        Some(ours) => end.request_token.as_deref() == Some(ours),' '        Some(_) => true,' our_update_is_woken lib
mutate "the waiter wakes no step when its stack's operation ends" functions/shared/src/service/wait/mod.rs \
  $'        if wakes(&registration, &end) {\n            report.woken += send' $'        if std::hint::black_box(false) && wakes(&registration, &end) {\n            report.woken += send' each_update_is_waited_for waiting
mutate "an end that came before its wait is never seen (the step waits out its time-out)" functions/shared/src/service/wait/mod.rs \
  $'                report.woken += send_and(board, tokens, &key, &registration, remove_woken).await?;\n                return Ok(report);' $'                return Ok(report);' an_end_that_came_before lib
mutate "a wait on our update is woken by our update's old end (a loop while someone's operation runs)" functions/shared/src/service/wait/mod.rs \
  '            Some(end) if end.time_ms + CLOCK_SLACK_MS >= registration.seen_ms => {' '            Some(end) if end.time_ms + CLOCK_SLACK_MS >= std::hint::black_box(0) => {' a_wait_on_our_update_that_ended lib
mutate "a late end replaces the later one the waiter kept" functions/shared/src/service/wait/mod.rs \
  '                if kept.is_some_and(|kept| kept.time_ms > end.time_ms) {' '                if std::hint::black_box(false) && kept.is_some_and(|kept| kept.time_ms > end.time_ms) {' a_late_end_never lib
mutate "the waiter, writing a stack's two end records at once, leaves out the one by our token" functions/shared/src/service/wait/mod.rs \
  $'                board\n                    .keep(&end_key(&end.stack_id, token), to_json(&end))\n                    .await' '                std::future::ready(Ok::<(), crate::ports::AwsError>(())).await.map(|()| drop(token))' an_end_that_came_before lib
mutate "an end of another stack wakes a wait for ours" functions/shared/src/domain/waiting.rs \
  '    if registration.stack_id != end.stack_id || !is_end(&end.status) {' '    if !is_end(&end.status) {' our_update_is_woken lib
mutate "an update still in progress wakes the wait for its end" functions/shared/src/domain/waiting.rs \
  '    if registration.stack_id != end.stack_id || !is_end(&end.status) {' '    if registration.stack_id != end.stack_id {' our_update_is_woken lib
mutate "an account's regions share one lane (one region's budget spent by another's stacks)" functions/shared/src/domain/lanes/mod.rs \
  '    format!("lanes/{}/{}.json", stack.account, stack.region)' '    format!("lanes/{}.json", stack.account)' a_full_lane_refuses_no_stack_of_another lib
mutate "accounts share one lane in a region (one account's budget spent by another's stacks)" functions/shared/src/domain/lanes/mod.rs \
  '    format!("lanes/{}/{}.json", stack.account, stack.region)' '    format!("lanes/{}.json", stack.region)' a_full_lane_refuses_no_stack_of_another lib
mutate "the local AWS throttles no CloudFormation call unless told to (AWS always does)" tests/emulator/rotatetoken/state.py \
  '    "rate_limits": {"cloudformation": {"*": [5, 10]}},' '    "rate_limits": {},' test_on_unless_configured emulator:test_rate_limits
mutate "the local AWS counts no late delivery as reordered (a test of reordering proves nothing)" tests/emulator/rotatetoken/cloudformation/status_events.py \
  '        elif number < _DELIVERED.get(stack_id, 0):' '        elif number < 0:' test_deliveries_behind_a_later_event emulator:test_stack_status_events
mutate "the refresh holds its Lambda while CloudFormation works" functions/shared/src/domain/refresh/mod.rs \
  '        if must_wait && settings.wait_for_events {' '        if must_wait && settings.wait_for_events && std::hint::black_box(false) {' each_update_is_waited_for waiting
mutate "target accounts do not forward UPDATE_COMPLETE" target-role.yaml \
  'ROLLBACK_COMPLETE, ROLLBACK_FAILED, UPDATE_COMPLETE, UPDATE_FAILED' 'ROLLBACK_COMPLETE, ROLLBACK_FAILED, UPDATE_FAILED' the_rules_that_wake contracts
mutate "emulator: a bus policy with conditions admits nothing (AWS admits what they allow)" tests/emulator/rotatetoken/events.py \
  '        if holds(st.get("Condition") or {}):' '        if not st.get("Condition") and holds({}):' a_stack_in_another_account waiting

# Lanes: concurrency per account and region (issue 26).
mutate "a full lane admits one more stack" functions/shared/src/domain/lanes/mod.rs \
  '    if lane.holders.len() >= lane.places as usize {' '    if lane.holders.len() > lane.places as usize {' each_account_region_has lanes
mutate "a throttled lane keeps all its places" functions/shared/src/service/refresh.rs \
  '        if retries.throttled_calls() > throttled_before {' '        if retries.throttled_calls() > throttled_before && std::hint::black_box(false) {' each_account_region_has lanes
mutate "CloudFormation's throttling is not recognised (a throttled lane keeps all its places)" functions/shared/src/aws/retries.rs \
  '    status == 400
        && (' '    status == 401
        && (' each_account_region_has lanes
mutate "any 400 counts as throttling (a refused update narrows its lane)" functions/shared/src/aws/retries.rs \
  '    status == 400
        && (' '    status == 400
        || (' only_a_400_named_throttling lib
mutate "a place freed is handed on to no waiting stack (they wait out their time-out)" functions/shared/src/service/wait/mod.rs \
  '            None if lane_full || places_woken >= free => continue,' '            None if std::hint::black_box(true) || lane_full || places_woken >= free => continue,' each_account_region_has lanes
mutate "a freed place is spent on a step that no longer waits" functions/shared/src/service/wait/mod.rs \
  '                    places_woken += woken;' '                    places_woken += woken.max(1);' a_freed_place_goes lib
mutate "a lane forgets a refusal before the refused step can have registered (it misses the hand-over)" functions/shared/src/domain/lanes/mod.rs \
  'pub const REFUSED_SLACK_MS: u64 = 3 * 60_000;' 'pub const REFUSED_SLACK_MS: u64 = 2 * 60_000;' a_refused_steps_slowest_registration contracts
mutate "a lane read ahead is used again after a conditional write found it stale" functions/shared/src/service/lane.rs \
  '        let read = match ahead.take() {' '        let read = match { let again = ahead.clone(); std::mem::replace(&mut ahead, again) } {' a_place_asked_for_on_a_lane_read_ahead lib
mutate "a place is given back on the lane read ahead even where this look took it since (it stays taken)" functions/shared/src/service/lane.rs \
  '            .is_ok_and(|lane| lanes::holds_not_due(&lane, &stack.id, execution, now_ms)),' '            .is_ok_and(|lane| std::hint::black_box(true) || lanes::holds_not_due(&lane, &stack.id, execution, now_ms)),' a_place_taken_in_a_look lib
mutate "a begun stack's look never renews its place (a long refresh outlives its lease)" functions/shared/src/service/refresh.rs \
  '        if let (Some(files), false) = (lanes, not_begun) {' '        if let (Some(files), false) = (lanes, std::hint::black_box(true)) {' a_begun_stacks_look_renews lanes
mutate "look two describes the stack again after its first reads (one round trip more a look)" functions/shared/src/domain/refresh/mod.rs \
  '        .described
        .take()' '        .described
        .take()
        .filter(|_| std::hint::black_box(false))' look_two_acts_on_the_snapshot lib
mutate "a snapshot described ahead is acted on where the events show our update began (judged on a stack older than its events)" functions/shared/src/domain/refresh/mod.rs \
  '        .filter(|_| !task.update_started && task.phase == Phase::Disable);' '        .filter(|_| std::hint::black_box(true) || !task.update_started);' a_snapshot_described_ahead_is_not_acted_on lib
mutate "look one describes the stack ahead too (a read thrown away on a rate-limited API)" functions/shared/src/service/refresh.rs \
  '        said_not_begun && task.preview_since_ms.is_some() && settings.wait_for_events;' '        said_not_begun && std::hint::black_box(true) && settings.wait_for_events;' each_update_is_waited_for_by_its_end_event waiting
mutate "a preview read is left behind where its look goes on to the claim" functions/shared/src/domain/refresh/start.rs \
  '            if let Some(name) = read_preview.take() {' '            if let Some(name) = read_preview.take().filter(|_| std::hint::black_box(false)) {' the_first_look_begins_the_preview lib
mutate "a preview read is left behind where its look skips the stack" functions/shared/src/domain/refresh/start.rs \
  '    let Some(name) = read else {' '    let Some(name) = read.filter(|_| std::hint::black_box(false)) else {' the_look_that_reads_the_preview_still_judges lib
mutate "a read preview that cannot be deleted is left unseen where no update of ours made it obsolete" functions/shared/src/domain/refresh/start.rs \
  '        (Err(e), Ok(_)) if !task.update_started && task.phase == Phase::Disable => Err(e),' '        (Err(e), Ok(_)) if std::hint::black_box(false) => Err(e),' a_read_preview_that_cannot_be_deleted_fails lib
mutate "a read preview whose delete beside the claim failed is forgotten (left where no update follows)" functions/shared/src/domain/refresh/start.rs \
  '                    *read_preview = Some(name);' '                    let _ = name;' a_read_preview_whose_delete_beside_the_claim_fails lib
mutate "a preview made with other inputs is not deleted before it is made again (the new one is never begun)" functions/shared/src/domain/refresh/preview.rs \
  '            PreviewRead::Ready { .. } => updater.delete_preview(&task.stack, name).await?,' '            PreviewRead::Ready { .. } => {}' a_preview_made_with_other_parameters lib
mutate "a stack that ended keeps its place (its lane shrinks for good)" functions/shared/src/service/refresh.rs \
  '        if out.outcome != Outcome::Waiting {
            out.place_wanted = lane::leave' '        if out.outcome == Outcome::Skipped {
            out.place_wanted = lane::leave' each_account_region_has lanes
mutate "a stack leaving its lane never hands its place on (a refusal is not remembered)" functions/shared/src/domain/lanes/mod.rs \
  '    lane.refused_ms > 0
        && now_ms' '    lane.refused_ms > 0
        && std::hint::black_box(false)
        && now_ms' each_account_region_has lanes
mutate "a stack leaving a lane no stack waits in still runs FreePlace" functions/shared/src/domain/lanes/mod.rs \
  '    lane.refused_ms > 0
        && now_ms' '    std::hint::black_box(true)
        || now_ms' a_put_secret_value_refreshes state_machine
mutate "a lane refusing a stack a place does not say so (its leavers skip FreePlace)" functions/shared/src/domain/lanes/mod.rs \
  '    if lane.holders.len() >= lane.places as usize {
        lane.refused_ms = lane.refused_ms.max(now_ms);' '    if lane.holders.len() >= lane.places as usize {' a_stack_leaving_a_lane_where lib
mutate "a lane refusing a holder its resources does not say so (its leavers skip FreePlace)" functions/shared/src/domain/lanes/mod.rs \
  '        holder.wants = resources;
        lane.refused_ms = lane.refused_ms.max(now_ms);' '        holder.wants = resources;' a_stack_leaving_a_lane_where lib
mutate "a stack that cannot reach its lane skips FreePlace" functions/shared/src/service/lane.rs \
  '            // Unknown whether anyone waits: the hand-over runs.
            true' '            // Unknown whether anyone waits: the hand-over runs.
            false' a_stack_that_cannot_reach lib
mutate "a place wait longer ago than the slack still counts as waiting" functions/shared/src/domain/lanes/mod.rs \
  '.saturating_add(PLACE_WAIT_MS + REFUSED_SLACK_MS)' '.saturating_add(PLACE_WAIT_MS + REFUSED_SLACK_MS + 1)' a_stack_leaving_a_lane_where lib

mutate "a lane's begun stacks may change all of the account-region's concurrent resources" functions/shared/src/domain/lanes/mod.rs \
  '    (u64::from(limit) * u64::from(RESOURCE_SHARE_PERCENT) / 100) as u32' '    limit' begun_stacks_change_at_most lanes
mutate "a stack begins its first update without claiming its resources" functions/shared/src/domain/refresh/start.rs \
  '    if budget.claim(&task.stack, resources.max(1)).await? {' '    if std::hint::black_box(true) || budget.claim(&task.stack, resources.max(1)).await? {' begun_stacks_change_at_most lanes
mutate "emulator: an invocation the Lambda host drops is an error no Retry names (States.Runtime)" tests/emulator/rotatetoken/lambda_bridge.py \
  '    except (OSError, http.client.HTTPException) as err:' '    except ArithmeticError as err:' test_an_invocation_the_host_drops emulator:test_stepfunctions_stop
mutate "a change set being created is looked at every half second" functions/shared/src/aws/cloudformation/change_sets.rs \
  '                    let next = std::time::Duration::from_secs(2);' '                    let next = std::time::Duration::from_millis(500);' a_change_set_that_takes_seconds waiting
mutate "emulator: a change set is complete as soon as it is created" tests/emulator/rotatetoken/cloudformation/change_sets.py \
  '    ready_at = time.time() + delay' '    ready_at = time.time()' test_a_change_set_is_in_progress emulator:test_change_set_creation
mutate "emulator: a call's AWS latency is not slowed with the run" tests/emulator/rotatetoken/faults.py \
  '    return max(0.0, float(latency)) * float(configured.get("scale", 1))' '    return max(0.0, float(latency))' test_a_product_call_is_answered emulator:test_call_latency
mutate "emulator: the local AWS's own work is added to AWS's latency (counted twice)" tests/emulator/rotatetoken/faults.py \
  '    return max(0.0, latency - handled_in)' '    return max(0.0, latency)' test_the_local_aws_own_work emulator:test_call_latency

# The start of a run, staggered per account-region (issue 26).
mutate "every lane's stacks start at once (no stagger)" functions/shared/src/domain/lanes/mod.rs \
  '        task.start_after_seconds = (*k / STARTS_PER_SECOND).max(i as u32 / RUN_STARTS_PER_SECOND);' '        task.start_after_seconds = 0;' the_stacks_started_at_once lib
mutate "a run over many account-regions begins one stack a second in each, however many at once" functions/shared/src/domain/lanes/mod.rs \
  '        task.start_after_seconds = (*k / STARTS_PER_SECOND).max(i as u32 / RUN_STARTS_PER_SECOND);' '        task.start_after_seconds = *k / STARTS_PER_SECOND;' a_run_over_many_account_regions_begins_at_most lib
mutate "the local AWS lists a prefix by walking every key of the bucket again" tests/emulator/rotatetoken/s3.py \
  '        for key in [k for k in list(dict.keys(self)) if k.startswith(prefix)]:' '        for key in list(dict.keys(self)):' the_key_store_yields_only_the_keys_under emulator:test_lambda_s3_faults
mutate "the local AWS hands every caller the one parsed template (a caller's change shows in the next)" tests/emulator/rotatetoken/cloudformation/transforms.py \
  '        return copy.deepcopy(parsed_once(template))' '        return parsed_once(template)' a_body_is_parsed_once emulator:test_cloudformation_units
mutate "a reconciling run keeps the stagger planned before the audit dropped the fresh stacks" functions/shared/src/service/discover.rs \
  '        lanes::schedule(&mut out, settings.max_concurrency);' '        let _ = lanes::schedule;' the_scheduled_reconciliation_refreshes operator
mutate "the state machine starts each stack without its stagger" statemachine/rotatetoken.asl.json \
  '"StartAt": "Stagger",' '"StartAt": "Refresh",' each_stack_begins_with_its_stagger contracts

# Refresh waits on its own token (issue 26: two state transitions a look, not three).
mutate "a look never waits on its own token (every stack wait goes through WaitForStack)" functions/shared/src/domain/waiting.rs \
  '    wait.kind == WaitKind::Stack
        && look_seconds' '    wait.kind == WaitKind::Place
        && look_seconds' each_update_is_waited_for_by_its_end_event waiting
mutate "a woken look is handed the task with its wait (WaitForStack waits again for an end already come)" functions/shared/src/service/refresh.rs \
  '            next.wait = None;' '            let _ = &mut next;' each_update_is_waited_for_by_its_end_event waiting
mutate "the waiter sends a look waiting on its own token an empty output, not its task" functions/shared/src/service/wait/mod.rs \
  '        Some(task) => task.to_string(),
        None => "{}".to_string(),' '        Some(task) if std::hint::black_box(false) => task.to_string(),
        _ => "{}".to_string(),' a_look_waiting_on_its_own_token_is_sent lib
mutate "a look whose state timed out (its end event lost) is recorded as failed" statemachine/rotatetoken.asl.json \
  '"States.Timeout"
                ],
                "ResultPath": "$.timed_out",
                "Next": "Refresh"' '"States.Timeout"
                ],
                "ResultPath": "$.timed_out",
                "Next": "RecordError"' a_look_waiting_on_its_own_token_whose_end_is_lost waiting

mutate "the look after a time-out starts from the timed-out look's input, not from what it kept" functions/shared/src/service/refresh.rs \
  '                && kept.invocations > given.invocations =>' '                && kept.invocations > given.invocations
                && std::hint::black_box(false) =>' a_look_waiting_on_its_own_token_whose_end_is_lost waiting
mutate "the waiter removes a timed-out look's registration, and the task it kept with it" functions/shared/src/service/wait/mod.rs \
  '    let own = registration.task.is_some();' '    let own = registration.task.is_some() && std::hint::black_box(false);' a_look_whose_step_timed_out_leaves lib
mutate "a look past its time begins an update or a change set anyway (a stalled look could undo a refresh)" functions/shared/src/domain/refresh/mod.rs \
  '    if now_ms < until_ms {' '    if now_ms < until_ms || std::hint::black_box(true) {' a_look_past_its_time lib

# Reads per look (issue 26: at most 6 CloudFormation reads per stack per phase).
mutate "every look describes the stack again (the snapshot phase two could reuse is dropped)" functions/shared/src/domain/refresh/mod.rs \
  '            seen = Some(snapshot);' '            let _ = snapshot;' each_update_is_waited_for_by_its_end_event waiting
mutate "events read before the describe are read again whatever they say" functions/shared/src/aws/cloudformation/mod.rs \
  '                if !kept.before_describe || still_true(&kept.events) {' '                if !kept.before_describe || (std::hint::black_box(false) && still_true(&kept.events)) {' each_update_is_waited_for_by_its_end_event waiting
mutate "events read before the describe answer for an update still cleaning up" functions/shared/src/aws/cloudformation/mod.rs \
  '        .is_some_and(|s| !s.as_str().ends_with("_IN_PROGRESS"))' '        .is_some_and(|s| !s.as_str().ends_with("UPDATE_IN_PROGRESS"))' a_page_read_before_the_describe lib
mutate "a stack waiting for a place asks again every minute (fruitless looks)" functions/shared/src/domain/waiting.rs \
  '    let longest_ms = PLACE_WAIT_MS.min(' '    let longest_ms = (PLACE_WAIT_MS / 5).min(' a_stack_waits_for_a_hand_over lib
mutate "the bus admits no account of the target OUs (their stacks' ends are refused)" template.yaml \
  '                - "*/${Paths}/*"
                - Paths: !Join ["/*,*/", !Ref TargetOrganizationalUnitIds]
          ForAllValues:StringEquals:' '                - "${Paths}/*"
                - Paths: !Join ["/*,*/", !Ref TargetOrganizationalUnitIds]
          ForAllValues:StringEquals:' a_stack_in_an_account_of_a_target_ou waiting
mutate "the emulator bills an implied authorisation as a request (a missing key's ListBucket)" tests/emulator/rotatetoken/request_log.py \
  $'                       # not as a LIST: an authorisation, not a request.\n                       "implied": True}' '                       }' a_missing_key_is_one_request emulator:test_request_log
mutate "a freed place is handed on without taking it for the woken step (over-waking)" functions/shared/src/service/wait/mod.rs \
  '    let handed = super::lane::hand_to(board, &stack, execution, now_ms, budget).await?;' '    let handed = if std::hint::black_box(false) { super::lane::hand_to(board, &stack, execution, now_ms, budget).await? } else { HandOver::Held };' stacks_ending_together_hand_on lib
mutate "a hand-over whose step no longer waited gives back a place its stack already held" functions/shared/src/service/wait/mod.rs \
  '    if woken == 0 && handed == HandOver::Taken {' '    if woken == 0 {' a_stale_registration_of_a_stack lib
mutate "a hand-over whose step no longer waited keeps the place taken for it (idle until its lease ends)" functions/shared/src/service/wait/mod.rs \
  '    if woken == 0 && handed == HandOver::Taken {' '    if woken == 0 && handed == HandOver::Full {' a_place_taken_for_a_step_gone lib
mutate "a longer PollIntervalSeconds lengthens the phase-two backoff (a stack at false longer)" functions/shared/src/domain/refresh/mod.rs \
  '    settings.poll_interval_ms.clamp(1_000, BACKOFF_UNIT_MS) * (1u64 << failures.min(6))' '    settings.poll_interval_ms.max(1_000).max(BACKOFF_UNIT_MS / 60) * (1u64 << failures.min(6))' a_longer_lost_event_bound lib
mutate "the emulator accepts a late SendTaskSuccess for a callback task that timed out" tests/emulator/rotatetoken/stepfunctions.py \
  '                endpoint.report(CallbackConsumerTimeout())' '                pass' closes_its_token emulator:test_stepfunctions_stop
mutate "the runs bucket's policy leaves the waiter out of its writers (every wait refused on AWS)" template.yaml \
  $'                  - !GetAtt WaiterFunctionRole.Arn\n' '' each_role_is_limited_in_resources iam

mutate "phase one's preview waits inside the look for its change set (a Lambda held while CloudFormation creates it)" functions/shared/src/domain/refresh/preview.rs \
  '    match updater.begin_preview(plan, name).await {' '    match std::hint::black_box(Err::<bool, AwsError>(AwsError { operation: "CreateChangeSet", code: None, message: String::new() })) {' the_first_look_begins_the_preview lib
mutate "phase one's preview waits inside the look (through the state machine)" functions/shared/src/domain/refresh/preview.rs \
  '    match updater.begin_preview(plan, name).await {' '    match std::hint::black_box(Err::<bool, AwsError>(AwsError { operation: "CreateChangeSet", code: None, message: String::new() })) {' a_change_set_that_takes_seconds_to_create waiting
mutate "a preview made with other inputs than the update's is judged (discovery's parameters, not the stack's)" functions/shared/src/domain/refresh/preview.rs \
  '            } if description.ends_with(&plan.inputs_mark()) => {' '            } if std::hint::black_box(!description.is_empty()) => {' a_preview_made_with_other_parameters lib
mutate "a change set CloudFormation could not create leaves the stack waiting (its reason lost)" functions/shared/src/domain/refresh/start.rs \
  $'                    fail(task, reason, false);\n                    return Ok(false);' $'                    let _ = reason;\n                    return Ok(true);' a_change_set_cloudformation_could_not_create lib
mutate "a change set never created is waited for past the patience" functions/shared/src/domain/refresh/preview.rs \
  '                if age >= PATIENCE_MS {' '                if std::hint::black_box(false) && age >= PATIENCE_MS {' a_change_set_never_created lib
mutate "a begun preview no look will read is left for anyone to execute" functions/shared/src/domain/refresh/mod.rs \
  '            updater.drop_preview(&task.stack, &name).await;' '            let _ = (&updater, &name);' a_begun_preview_no_look lib
mutate "a begun preview no look will read is left behind (through the real adapter)" functions/shared/src/domain/refresh/mod.rs \
  '            updater.drop_preview(&task.stack, &name).await;' '            let _ = (&updater, &name);' a_preview_no_look_will_read_is_deleted refresh
mutate "a change set still being created is read as if it were created (its empty first answer judged)" functions/shared/src/aws/cloudformation/change_sets.rs \
  $'                "CREATE_PENDING" | "CREATE_IN_PROGRESS" if !patient => {\n                    return Ok(Readiness::NotYet(created_ms(&out)))' $'                "CREATE_PENDING" | "CREATE_IN_PROGRESS" if !patient => {\n                    return Ok(Readiness::Read)' a_change_set_that_takes_seconds_to_create waiting
mutate "an OBSOLETE change set (made before a deploy) is judged as the stack's" functions/shared/src/aws/cloudformation/change_sets.rs \
  '                    return Ok(Readiness::Obsolete)' '                    return Ok(Readiness::Read)' a_preview_made_before_a_deploy refresh
mutate "a preview still being created is looked at again at once (a look, three transitions and a read each time)" functions/shared/src/domain/refresh/preview.rs \
  '(age / 2).clamp(NEXT_LOOK_MS.0, NEXT_LOOK_MS.1)' '(age / 2).clamp(NEXT_LOOK_MS.0 / 5, NEXT_LOOK_MS.1)' a_preview_still_being_created lib
mutate "the emulator keeps a change set executable after its stack was updated (never OBSOLETE)" tests/emulator/rotatetoken/cloudformation/change_set_lifecycle.py \
  '        cs.execution_status = "OBSOLETE"' '        pass' test_an_update_of_the_stack_makes_its_change_set_obsolete emulator:test_change_set_lifecycle
mutate "the emulator answers a missing change set with moto's ValidationError, not ChangeSetNotFound" tests/emulator/rotatetoken/cloudformation/change_set_lifecycle.py \
  '    if not found:' '    if False:' test_a_change_set_that_does_not_exist emulator:test_change_set_lifecycle
mutate "the emulator makes a second change set of one name beside the first" tests/emulator/rotatetoken/cloudformation/change_set_lifecycle.py \
  'def create_change_set(self: Any) -> Any:' $'def create_change_set(self: Any) -> Any:\n    return _moto.create_change_set(self)\n\n\ndef _unused(self: Any) -> Any:' test_a_second_change_set_of_one_name_is_refused emulator:test_change_set_lifecycle

mutate "a failed change set made with other inputs fails the stack (never made again with the stack's)" functions/shared/src/domain/refresh/preview.rs \
  $'                reason,\n                description,\n            } if description.ends_with(&plan.inputs_mark()) => {' $'                reason,\n                description,\n            } if std::hint::black_box(!description.is_empty()) => {' a_failed_change_set_made_with_other_inputs lib
mutate "how long a change set was waited for is taken from the task (a task can make its stack fail)" functions/shared/src/domain/refresh/preview.rs \
  '                let age = now.saturating_sub(created_ms.unwrap_or(since));' '                let age = now.saturating_sub(std::hint::black_box(since)); let _ = created_ms;' how_long_a_change_set_was_waited_for lib
mutate "discovery's CloudFormation calls go at once, unpaced (runs discovering together throttle one another and the customer)" functions/shared/src/service/discovery_pace.rs \
  '        if slot > now {' '        if std::hint::black_box(false) && slot > now {' runs_discovering_together discover
mutate "a run discovering paces as if alone, whatever the others discovering in its account-region (the budget not shared)" functions/shared/src/service/discovery_pace.rs \
  '                Ok(seats) => seats,' '                Ok(seats) => std::hint::black_box(1).min(seats),' a_run_beside_another lib
mutate "a run never gives its discovery seat back (the runs after it pace slower for a lease)" functions/shared/src/service/discovery_pace.rs \
  '            seats.leave(&self.execution);' '            seats.leave("");' a_run_beside_another lib
mutate "a lapsed discovery seat (its run timed out) is still counted" functions/shared/src/domain/discovery_pace.rs \
  '            .retain(|_, renewed| now_ms.saturating_sub(*renewed) < SEAT_LEASE_MS);' '            .retain(|_, renewed| std::hint::black_box(*renewed > 0));' lapse lib
mutate "no run finds a template another kept (an incident's runs read every template each)" functions/shared/src/service/discovery_pace.rs \
  '            templates.insert(s.stack.id.clone(), template_key(s));' '            templates.insert(s.stack.id.clone(), std::hint::black_box(template_key(s)).filter(|_| false));' runs_discovering_together discover
mutate "a kept template is keyed by its stack alone (an updated stack's old template is read)" functions/shared/src/domain/discovery_pace.rs \
  '    let at = snapshot.last_changed_ms?;' '    let at = snapshot.last_changed_ms.map(|_| 0)?;' a_template_kept_by_one_run_is_read_again discover
mutate "a template is kept for a stack in the middle of an operation" functions/shared/src/domain/discovery_pace.rs \
  '    if !snapshot.status.ends_with("_COMPLETE") {' '    if std::hint::black_box(snapshot.status.is_empty()) {' a_template_is_kept_under lib
mutate "the local AWS never returns LastUpdatedTime (moto's own)" tests/emulator/rotatetoken/cloudformation/updates.py \
  '        stack.last_updated_time = began
        return stack' '        return stack' test_last_updated_time_appears emulator:test_real_shapes
exit $survived
