"""install(): every registered patch, in one order, then the control endpoints.

The order is moto's, not the numbers': where two patches wrap the same piece of moto, the
one listed later wraps the other (capabilities (16) wrap the change sets' handler (21);
the real-shapes patches (33-40) are outermost). test_registry.py checks that ORDER holds
every registered installer once.
"""

from __future__ import annotations

from . import crashes, events, faults, lambda_bridge, request_log, s3, secretsmanager, sns, stepfunctions, sts
from .cloudformation import (
    change_set_lifecycle,
    change_sets,
    conditions,
    dynamic_refs,
    nested,
    policies,
    real_shapes,
    replacement,
    request_tokens,
    status_events,
    transforms,
    updates,
)
from .control import register_control_endpoints

ORDER = [
    # CloudFormation's own behaviours
    updates.install_async_updates,  # 3, 18, 20
    updates.install_consistent_reads,  # 53
    updates.install_previous_values,  # 4
    updates.install_parameter_validation,  # 5
    conditions.install_conditions_on_update,  # 1, 19
    replacement.install_in_place_updates,  # 29
    replacement.install_resource_times,  # 30
    secretsmanager.install_secret_version_dates,  # 31
    secretsmanager.install_partial_arns_of_replicas,  # 59
    dynamic_refs.install_dynamic_references,  # 2
    updates.install_status_reason,  # 7
    updates.install_ssm_parameter_names,  # 6
    change_sets.install_change_sets,  # 21
    nested.install_nested_stacks,  # 22
    transforms.install_transforms,  # 17, 23
    transforms.install_parse_cache,  # 62: wraps moto's parse, as 17 found it
    policies.install_capabilities,  # 16: wraps 21's CreateChangeSet
    status_events.install_stack_status_events,  # 49: reads the token 41 stamps on each event
    status_events.install_account_limits,  # 50
    # Other services
    lambda_bridge.install_lambda_bridge,  # 8
    stepfunctions.install_interpreter,  # 9, 12
    stepfunctions.install_map_failures,  # 15
    stepfunctions.install_stop_wins,  # 48
    stepfunctions.install_retry_wait,  # 52
    stepfunctions.install_wait_state_scale,  # 55
    stepfunctions.install_callback_time_outs,  # 57
    events.install_lambda_targets,  # 10
    events.install_test_event_pattern,  # 27
    events.install_bus_targets,  # 51: wraps 10's delivery
    sns.install_encrypted_publish,  # 28
    s3.install_conditional_writes,  # 25
    s3.install_denied_writes,  # 46
    s3.install_consistent_listing,  # 54
    s3.install_prefix_listing,  # 61: wraps 54's key store iteration
    stepfunctions.install_execution_status_events,  # 26
    sts.install_assume_role_refusals,  # 11
    faults.install_throttling,  # 13
    faults.install_rate_limits,  # 42
    faults.install_call_latency,  # 63
    request_log.install_request_log,  # 14, 24
    crashes.install_crashes,  # 44: outside the request log (a dead process's calls never happen)
    crashes.install_async_retries,  # 45
    # CloudFormation as it treats the stacks real tools deploy, outermost
    real_shapes.install_change_set_executions,  # 33: wraps 16's ExecuteChangeSet
    real_shapes.install_describe_stacks_parameters,  # 34
    real_shapes.install_cdk_metadata,  # 35
    real_shapes.install_ssm_parameter_attributes,  # 36
    real_shapes.install_inline_lambda_code_updates,  # 37
    real_shapes.install_missing_parameter_message,  # 38
    real_shapes.install_resources_that_fail,  # 39: wraps 29's resource creation
    real_shapes.install_list_parameter_defaults,  # 40
    real_shapes.install_service_role_kept,  # 58: wraps 3's update
    change_set_lifecycle.install_change_set_lifecycle,  # 60: wraps 16's CreateChangeSet, 3's update, 33's execute
    change_sets.install_change_set_creation_time,  # 56: wraps 22's delete, 16's and 33's execute (and 60's)
    updates.install_last_updated_time,  # 64: wraps 3's and 58's update, 33's, 60's and 56's execute
    # Outermost: a request's token is taken before any other check can refuse it.
    request_tokens.install_request_tokens,  # 41
]


def install() -> None:
    """Every patch into moto (once per process), then the control endpoints."""
    for installer in ORDER:
        installer()
    register_control_endpoints()
