"""Step Functions: (9) moto's interpreter switched on, executions named; (12) a Distributed
Map's ResultWriter; (15) failed children against the tolerated failure threshold; (26)
execution status events; (48) a stop wins over a later task error; (52) a retry's wait ends at
a stop, and may be compressed in time; (32) the payload limit, as moto has it."""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from typing import Any

from .registry import patch, relied_on
from .state import CONTROL, LOCK, MAP_FAILURES, MAP_RUN_LOG

@patch(
    9, service="Step Functions",
    behaviour="""State machines are executed by moto's interpreter (config default switched on), and an
     execution started without a name gets a UUID, as on AWS (moto: "...:None").""",
    source="""Measured against moto 5.2.5: "Unnamed executions were named `...:None`"
     (../shared/FIELD-NOTES.md); AWS names them with a UUID.""",
)
@patch(
    12, service="Step Functions",
    behaviour="""A Distributed Map's ResultWriter writes SUCCEEDED_0.json and lists it in the manifest
      (moto writes an empty manifest).""",
    source="""Measured: moto 5.2.5 writes an empty manifest and drops the results; AWS writes the
     result files its manifest lists (Step Functions developer guide, ResultWriter).""",
)
def install_interpreter() -> None:
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    from moto.stepfunctions.parser import models as sfn_models

    original = sfn_models.StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, execution_input: Any = None, trace_header: Any = None) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    sfn_models.StepFunctionsParserBackend.start_execution = start_execution

    # (12) A Distributed Map's ResultWriter writes the result files its manifest lists, as
    # AWS does (moto writes an empty manifest and drops the results).
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
        resource_eval_s3,
    )

    def handle_put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        parameters = env.stack.pop()
        results = env.stack.pop()
        s3 = resource_eval_s3.ResourceEvalS3._get_s3_client(resource_runtime_part=resource_runtime_part, state_credentials=state_credentials)
        map_run_arn = env.map_run_record_pool_manager.get_all().pop().map_run_arn
        run_id = map_run_arn.split(":")[-1]
        prefix = parameters.get("Prefix", "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        entries = [
            {"ExecutionArn": f"{map_run_arn}:{i}", "Name": str(i), "Status": "SUCCEEDED",
             "Output": json.dumps(r), "OutputDetails": {"Included": True}}
            for i, r in enumerate(results if isinstance(results, list) else [])
        ]
        results_key = f"{prefix}{run_id}/SUCCEEDED_0.json"
        s3.put_object(Bucket=parameters["Bucket"], Key=results_key, Body=json.dumps(entries).encode())
        files: dict[str, list[dict[str, Any]]] = {
            "FAILED": [], "PENDING": [], "SUCCEEDED": [{"Key": results_key, "Size": len(json.dumps(entries))}],
        }
        failures = [
            {"ExecutionArn": f"{map_run_arn}:f{f['Index']}", "Name": f"f{f['Index']}", "Status": f["Status"],
             "Input": f["Input"], "Error": f["Error"], "Cause": f["Cause"]}
            for f in MAP_FAILURES.pop(map_run_arn, [])
        ]
        if failures:
            failed_key = f"{prefix}{run_id}/FAILED_0.json"
            s3.put_object(Bucket=parameters["Bucket"], Key=failed_key, Body=json.dumps(failures).encode())
            files["FAILED"].append({"Key": failed_key, "Size": len(json.dumps(failures))})
        manifest = {"DestinationBucket": parameters["Bucket"], "MapRunArn": map_run_arn, "ResultFiles": files}
        key = f"{prefix}{run_id}/manifest.json"
        s3.put_object(Bucket=parameters["Bucket"], Key=key, Body=json.dumps(manifest, indent=2).encode())
        env.stack.append({"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": parameters["Bucket"], "Key": key}})

    resource_eval_s3.ResourceEvalS3._handle_put_object = staticmethod(handle_put_object)


@patch(
    15, service="Step Functions",
    behaviour="""Step Functions, Distributed Map: failed/timed-out/aborted children count against
      ToleratedFailurePercentage/Count (default 0: one failed child fails the Map with
      States.ExceedToleratedFailureThreshold); FAILED result files list them with Input,
      Error, Cause. moto: a failed child is a `null` result and the Map succeeds. moto's
      grammar only takes a decimal percentage; an integer (valid ASL) is read as the same
      number. Fault: config {"abort_children": ["<stack>"]}.""",
    source="""Step Functions developer guide, "Setting failure thresholds for Distributed Map
      states".""",
)
def install_map_failures() -> None:
    """(15) A Distributed Map counts its failed child executions against its tolerated
    failure threshold, as AWS does; moto turns a failed child into a `null` result and the
    Map succeeds.

    AWS ("Setting failure thresholds for Distributed Map states", Step Functions developer
    guide): a child execution that fails, times out or is aborted is a failed item; the Map
    Run fails with `States.ExceedToleratedFailureThreshold` when the failed items exceed
    `ToleratedFailurePercentage` or `ToleratedFailureCount`, both 0 by default, so one failed
    child fails the Map. The ResultWriter's manifest lists FAILED result files whose entries
    carry the child's `Input`, `Error` and `Cause`.
    Fault: config {"abort_children": ["<stack name>"]} stops the child execution whose item
    names that stack before it runs a state (as an operator's StopExecution would): ABORTED."""
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as dic,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as worker_mod,
    )

    original_eval_job = worker_mod.DistributedItemProcessorWorker._eval_job

    def eval_job(self: Any, env: Any, job: Any) -> None:
        item = job.job_input if isinstance(job.job_input, dict) else {}
        stack = (item.get("stack") or {}).get("name") if isinstance(item.get("stack"), dict) else None
        if stack and stack in CONTROL.get("abort_children", []):
            job.rt_failure = {"Status": "ABORTED", "Error": None, "Cause": None}
            job.job_output = None
            return
        original_eval_job(self, env, job)
        if job.job_output is None:
            state = env.program_state()
            failure = {"Status": "FAILED", "Error": "States.Runtime", "Cause": "the child execution failed"}
            if isinstance(state, ProgramError) and state.error:
                failure["Error"] = state.error.get("error")
                failure["Cause"] = state.error.get("cause")
            elif isinstance(state, ProgramStopped):
                failure = {"Status": "ABORTED", "Error": None, "Cause": None}
            job.rt_failure = failure

    worker_mod.DistributedItemProcessorWorker._eval_job = eval_job

    # moto's grammar takes ToleratedFailurePercentage only as a decimal (`100.0`); AWS takes
    # any JSON number from 0 to 100, `100` included. Read an integer as the same number.
    from moto.stepfunctions.parser.asl.parse import asl_parser

    original_parse = asl_parser.AmazonStateLanguageParser.parse

    def parse(definition: str) -> Any:
        definition = re.sub(r'("ToleratedFailurePercentage"\s*:\s*)(\d+)(?![\d.eE])', r"\1\2.0", definition)
        return original_parse(definition)

    asl_parser.AmazonStateLanguageParser.parse = staticmethod(parse)

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        input_items = env.stack.pop()
        program = self._get_iteration_program()
        pool = dic.JobPool(job_program=program, job_inputs=input_items)
        jobs = list(pool._open_jobs)
        max_concurrency = eval_input.map_run_record.max_concurrency
        workers = len(input_items) if max_concurrency == dic.DEFAULT_MAX_CONCURRENCY_VALUE else max_concurrency
        for _ in range(max(1, min(workers, len(input_items) or 1))):
            self._launch_worker(env=env, eval_input=eval_input, job_pool=pool)
        pool.await_jobs()
        # The children's events (moto keeps them in one throwaway EventManager per Map Run;
        # on AWS each child execution has its own history): counted, for `make bench`.
        children_types = [str(getattr(e.get("type"), "value", e.get("type"))) for e in env.event_manager._history_event_list]
        # Which states the children entered, by name: where a design's transitions go.
        entered: dict[str, int] = {}
        for e in env.event_manager._history_event_list:
            name = (e.get("stateEnteredEventDetails") or {}).get("name")
            if name:
                entered[name] = entered.get(name, 0) + 1
        with LOCK:
            MAP_RUN_LOG.append({
                "map_run_arn": eval_input.map_run_record.map_run_arn,
                "children": len(input_items),
                "events": len(children_types),
                "state_transitions": sum(1 for t in children_types if t.endswith("StateEntered")),
                "states_entered": entered,
                "lambda_invocations": sum(1 for t in children_types if t in ("LambdaFunctionScheduled", "TaskScheduled")),
            })
        if pool.get_worker_exception() is not None:
            raise pool.get_worker_exception()
        failed = [j for j in sorted(jobs, key=lambda j: j.job_index) if getattr(j, "rt_failure", None)]
        MAP_FAILURES[eval_input.map_run_record.map_run_arn] = [
            {**j.rt_failure, "Input": json.dumps(j.job_input), "Index": j.job_index} for j in failed
        ]
        total = len(input_items)
        percentage = float(eval_input.tolerated_failure_percentage or 0)
        count = int(eval_input.tolerated_failure_count or 0)
        # A threshold left out (or 0) tolerates nothing; when both are given, exceeding
        # either fails the Map Run.
        exceeded = [
            len(failed) > count if count > 0 else None,
            # A Map Run over no items has no failed ones (nothing to divide: it succeeds).
            100.0 * len(failed) / total > percentage if percentage > 0 and total else None,
        ]
        declared = [e for e in exceeded if e is not None]
        if failed and (any(declared) if declared else True):
            error = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
            cause = f"The specified tolerated failure threshold was exceeded: {len(failed)} of {total} child executions failed"
            raise FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=error,
                    event_type=HistoryEventType.MapRunFailed,
                    event_details=EventDetails(
                        executionFailedEventDetails=ExecutionFailedEventDetails(error=error.error_name, cause=cause)
                    ),
                )
            )
        outputs = [c.job_output for c in pool.get_closed_jobs() if c.job_output is not None]
        env.stack.append(outputs)

    dic.DistributedIterationComponent._map_run = map_run


@patch(
    48, service="Step Functions",
    behaviour="""A stopped execution ends ABORTED whatever it was doing: a task whose invocation was
      under way when StopExecution came, and then failed, does not turn the execution FAILED
      (moto's interpreter, stopped mid-task, let that task's error overwrite the stop: its
      Retry is pruned, the error goes uncaught and `set_error` replaces the stopped state).""",
    source="""Step Functions API reference, StopExecution ("Stops an execution") and
      DescribeExecution (status ABORTED; ExecutionAbortedEventDetails). Found by the fault
      campaign, seed 8 (docs/fault-campaign.md): discover killed, the run stopped during the
      dead invocation, and moto ended it FAILED with the task's Runtime.ExitError.""",
)
def install_stop_wins() -> None:
    """(48) Once stopped, an execution's end is ABORTED: a later error or time-out does not
    replace the stop."""
    from moto.stepfunctions.parser.asl.eval import environment as env_mod
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    for name in ("set_error", "set_timed_out"):
        original = getattr(env_mod.Environment, name)

        def guarded(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            if isinstance(self.program_state(), ProgramStopped):
                return
            _original(self, *args, **kwargs)

        setattr(env_mod.Environment, name, guarded)


@patch(
    52, service="Step Functions",
    behaviour="""A Retry's wait (IntervalSeconds × BackoffRate^n, capped by MaxDelaySeconds, FULL
      jitter drawn from it: moto computes it) ends at once when the execution is stopped, as an
      execution stopped during a retry's wait is ABORTED then, not after the wait (moto sleeps
      the whole interval, deaf to the stop). Time compression, for suites only: config
      {"retry_interval_scale": 0.1} makes every such wait a tenth as long; the default 1 is
      AWS's time. It changes how long, never whether or how often, a task is retried.""",
    source="""Step Functions developer guide, "Handling errors in Step Functions workflows",
      Retrying after an error (IntervalSeconds, BackoffRate, MaxDelaySeconds, JitterStrategy);
      API reference, StopExecution ("Stops an execution"; the execution's status becomes
      ABORTED). moto 5.2.5, retrier_decl.py: `time.sleep(interval_seconds)`.""",
)
def install_retry_wait() -> None:
    """(52) A retry's wait: interrupted by a stop, scaled by `retry_interval_scale`."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.common.retry.retrier_outcome import RetrierOutcome
    from moto.stepfunctions.parser.asl.component.common.retry.max_attempts_decl import MaxAttemptsOutcome

    def _eval_body(self: Any, env: Any) -> None:
        # moto's own steps (retrier_decl.py), but for the wait at the end.
        self.error_equals.eval(env)
        if not env.stack.pop():
            env.stack.append(RetrierOutcome.Skipped)
            return
        self.max_attempts.eval(env=env)
        if env.stack.pop() == MaxAttemptsOutcome.EXHAUSTED:
            env.stack.append(RetrierOutcome.Failed)
            return
        self.interval_seconds.eval(env=env)
        self.backoff_rate.eval(env=env)
        self.max_delay_seconds.eval(env=env)
        self.jitter_strategy.eval(env=env)
        interval: float = env.stack.pop()
        deadline = time.monotonic() + max(0.0, interval * float(CONTROL.get("retry_interval_scale", 1.0)))
        # The event is set (and cleared) when the execution's state changes, a stop among
        # them; moto's Wait state waits on it the same way.
        while env.is_running() and (left := deadline - time.monotonic()) > 0:
            env.program_state_event.wait(left)
        env.stack.append(RetrierOutcome.Executed)

    retrier_decl.RetrierDecl._eval_body = _eval_body


@patch(
    55, service="Step Functions",
    behaviour="""Time dilation, for benchmarks only: config {"wait_state_scale": 3} makes every Wait
      state (Seconds, SecondsPath) wait three times as long, and every task's time-out
      (TimeoutSeconds, TimeoutSecondsPath) come three times later, so that a benchmark
      slowing the whole of AWS by a factor (update times, API rates, its deploy's own
      waits) slows the state machine's fixed waits too (a run's start, staggered by a Wait
      state of the product; a callback task's time-out, which bounds what a lost event
      costs). The default 1 is AWS's time. A stop still ends the wait at once. Config
      `task_timeout_scale` scales the time-outs alone (null: as `wait_state_scale`): the
      suites shorten their Wait states fivefold (the product decides from AWS's state at
      every look, so any wait down to zero must be safe, as patch 52 does for Retry waits)
      and keep AWS's time-outs, which their tests of lost events measure.""",
    source="""Step Functions developer guide, "Wait workflow state" (Seconds, SecondsPath: the
      state waits that many seconds), "Task workflow state" (TimeoutSeconds,
      TimeoutSecondsPath: the task fails with States.Timeout when it runs longer). moto
      5.2.5, wait_function.py: `_wait_interval`; timeouts/timeout.py.""",
)
def install_wait_state_scale() -> None:
    """(55) A Wait state's seconds, and a task's time-out, times `wait_state_scale`. Both
    are the state machine's own times: a benchmark that slows AWS and leaves a task's
    time-out as it was would have a lost event's wait, or a place's ask-again time, end
    `wait_state_scale` times sooner against the updates it waits for than on AWS."""
    from moto.stepfunctions.parser.asl.component.common.timeouts import timeout as timeouts
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

    def timeout_body(self: Any, env: Any) -> None:
        seconds = self._eval_seconds(env=env)
        own = CONTROL.get("task_timeout_scale")
        scale = float(CONTROL.get("wait_state_scale", 1.0) if own is None else own)
        if scale != 1.0 and seconds != timeouts.TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS:
            seconds = int(math.ceil(seconds * scale))
        env.stack.append(seconds)

    timeouts.Timeout._eval_body = timeout_body

    def _eval_body(self: Any, env: Any) -> None:
        seconds = self._get_wait_seconds(env=env) * float(CONTROL.get("wait_state_scale", 1.0))
        deadline = time.monotonic() + max(0.0, seconds)
        # As moto's own wait (and patch 52's): the event is set when the execution's state
        # changes, a stop among them.
        while env.is_running() and (left := deadline - time.monotonic()) > 0:
            env.program_state_event.wait(left)

    wait_function.WaitFunction._eval_body = _eval_body


@patch(
    57, service="Step Functions",
    behaviour="""SendTaskSuccess/SendTaskFailure for the token of a callback task that timed out
      answer `TaskTimedOut` ("The task token has either expired or the task associated
      with the token has already been closed"), HTTP 400. moto answered HTTP 200 and
      dropped the outcome, so a waiter that woke a step gone meanwhile was told it woke
      it.""",
    source="""Step Functions API reference, SendTaskSuccess and SendTaskFailure, Errors:
      TaskTimedOut. moto 5.2.5: execute_state.py `_evaluate_with_timeout` never reports
      the time-out to the task's callback endpoint (callback.py `report`).""",
)
def install_callback_time_outs() -> None:
    """(57) A callback task's time-out closes its token: the endpoint is told
    (`CallbackConsumerTimeout`), and moto's own SendTaskSuccess/SendTaskFailure then
    raise `TaskTimedOut`. (moto keeps one token across a state's retries, where AWS gives
    each attempt its own; the product retries no callback task after its time-out.)"""
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackConsumerTimeout,
        CallbackTimeoutError,
    )

    original = ExecutionState._evaluate_with_timeout

    def _evaluate_with_timeout(self: Any, env: Any) -> None:
        try:
            original(self, env)
        except (EvalTimeoutError, CallbackTimeoutError):
            task = env.states.context_object.context_object_data.get("Task") or {}
            token = task.get("Token")
            endpoint = env.callback_pool_manager.get(token) if token else None
            if endpoint is not None and endpoint.get_outcome() is None:
                endpoint.report(CallbackConsumerTimeout())
            raise

    ExecutionState._evaluate_with_timeout = _evaluate_with_timeout

    # moto's own answer to a closed token tests the wrapper exception for the time-out
    # (always false: TaskDoesNotExist) and raises it without the message its AWSError
    # requires (HTTP 500). The closed token is answered here, before moto looks.
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser import models as sfn_models

    class TaskTimedOut(AWSError):
        TYPE = "TaskTimedOut"
        STATUS = 400

        def __init__(self, message: str = "The task token has either expired or the task "
                     "associated with the token has already been closed.") -> None:
            super().__init__(message)

    backend = sfn_models.StepFunctionsParserBackend

    def refusing_closed(original: Any) -> Any:
        def answer(self: Any, task_token: str, *args: Any, **kwargs: Any) -> Any:
            for execution in self._get_executions():
                env = getattr(getattr(execution, "exec_worker", None), "env", None)
                endpoint = env.callback_pool_manager.get(task_token) if env is not None else None
                if endpoint is not None and isinstance(endpoint.consumer_error, CallbackConsumerTimeout):
                    raise TaskTimedOut()
            return original(self, task_token, *args, **kwargs)
        return answer

    for name in ("send_task_success", "send_task_failure", "send_task_heartbeat"):
        setattr(backend, name, refusing_closed(getattr(backend, name)))


relied_on(
    47, service="Step Functions",
    behaviour="""StopExecution of a parent stops its Distributed Map's child executions (moto's
      interpreter stops every frame of the stopped execution): an invocation under way runs
      to its end, and no state of a child starts after the stop.""",
    source="""Step Functions API reference, "MapRunExecutionCounts": aborted children are those
      "stopped by the user or by Step Functions"; developer guide, "Redriving Map Runs": a
      stopped parent's Map Run cancels its in-progress Standard child executions.""",
)


@patch(
    26, service="Step Functions",
    behaviour="""Step Functions sends "Step Functions Execution Status Change" events to the default
      event bus when an execution ends (SUCCEEDED, FAILED, TIMED_OUT, ABORTED), with the
      detail AWS documents: executionArn, stateMachineArn, name, status, startDate and
      stopDate (epoch ms), input and output as JSON text, inputDetails/outputDetails
      ("AWS Step Functions events", EventBridge events reference; delivery best effort).
      moto sends none. Fault: config {"drop_status_events": true} loses them, as best
      effort delivery may.""",
    source="""EventBridge events reference, "AWS Step Functions events".""",
)
def install_execution_status_events() -> None:
    """(26) The end of an execution goes to EventBridge's default bus, as AWS sends it."""
    from moto.events.models import events_backends
    from moto.stepfunctions.parser.backend import execution as execution_mod

    original = execution_mod.BaseExecutionWorkerCommunication.terminated

    def millis(d: Any) -> int | None:
        return int(d.timestamp() * 1000) if d is not None else None

    def terminated(self: Any) -> None:
        original(self)
        e = self.execution
        if CONTROL.get("drop_status_events") or isinstance(e, execution_mod.SyncExecution):
            return
        status = str(getattr(e.exec_status, "value", e.exec_status))
        output = e.output if status == "SUCCEEDED" else None
        detail = {
            "executionArn": e.exec_arn,
            "stateMachineArn": e.state_machine_arn,
            "name": e.name,
            "status": status,
            "startDate": millis(e.start_date),
            "stopDate": millis(e.stop_date),
            "input": e.input_data if isinstance(e.input_data, str) else json.dumps(e.input_data),
            "output": output if output is None or isinstance(output, str) else json.dumps(output),
            "inputDetails": {"included": True},
            "outputDetails": {"included": True} if output is not None else None,
        }
        events_backends[e.account_id][e.region_name].put_events([{
            "Source": "aws.states",
            "DetailType": "Step Functions Execution Status Change",
            "Detail": json.dumps(detail),
            "Resources": [e.exec_arn],
        }])

    execution_mod.BaseExecutionWorkerCommunication.terminated = terminated


relied_on(
    32, service="Step Functions",
    behaviour="""A task result over 256 KiB (262,144 bytes of UTF-8) fails the state with
      States.DataLimitExceeded, "The state/task '...' returned a result with a size
      exceeding the maximum number of bytes service limit." (moto's interpreter,
      stepfunctions/parser/quotas.py; AWS: "Step Functions service quotas", and
      StateEnteredEventDetails.input "Maximum length of 262144", Step Functions API
      reference; the same message as AWS's, quoted in NASA-IMPACT/csdap-cumulus#296).
      Report keeps its output under it (tests/state_machine.rs, the payload-limit test).""",
    source="""Step Functions developer guide, "Step Functions service quotas"; Step Functions API
      reference, StateEnteredEventDetails.input; NASA-IMPACT/csdap-cumulus#296.""",
)
