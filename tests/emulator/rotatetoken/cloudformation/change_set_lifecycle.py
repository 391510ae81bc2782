"""(60) A change set lives as long as what it says holds: made OBSOLETE when its stack's
update begins, deleted when another change set of the stack is executed, and the one change
set of its stack by its name."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from ..registry import patch
from ..state import LOCK
from .change_sets import invalid_status, settle
from .nested import delete_change_set as delete_with_nested

_moto = SimpleNamespace()  # what this patch wraps (moto's, or an earlier patch's), as found at install

# A change set that was executed (or is being executed) no longer holds its name: a new one
# may take it (elias5000/clouds-aws#9: a name reused after its change set was executed is
# accepted), as a second `cdk deploy` of the suites does with `cdk-deploy-change-set`.
EXECUTED = ("EXECUTE_IN_PROGRESS", "EXECUTE_COMPLETE", "EXECUTE_FAILED")

# Per stack id, the number of the last update begun on it, any way (UpdateStack, its
# parent's update, ExecuteChangeSet); _UPDATES counts them. A CreateChangeSet that began
# before an update of its stack and ends after it makes an OBSOLETE change set.
_BEGUN: dict[str, int] = {}
_UPDATES = [0]
# CreateChangeSet calls under way, as (backend, stack name, change set name): one at a time
# per name, so two racing calls never both make it.
_CREATING: set[tuple[int, str, str]] = set()
# The change sets (a root's and its nested ones) the update under way on this thread is
# executing: the update they make does not make them obsolete.
_EXECUTING = threading.local()


def _tree(backend: Any, cs: Any) -> list[Any]:
    """The change set, then its nested stacks' change sets (patch 22), as far as they exist."""
    out, pending = [], [cs]
    while pending:
        each = pending.pop(0)
        out.append(each)
        pending.extend(backend.change_sets[i] for i in getattr(each, "rt_nested", []) if i in backend.change_sets)
    return out


def _mark_obsolete(cs: Any) -> None:
    """One that could still be executed becomes OBSOLETE; one still being created (56) ends
    OBSOLETE instead of AVAILABLE. Its Status stays; a FAILED or executed one is left alone."""
    final = getattr(cs, "rt_final", None)
    if getattr(cs, "rt_ready_at", None) is not None and final is not None:
        if final[1] == "AVAILABLE":
            cs.rt_final = (final[0], "OBSOLETE", final[2])
    elif cs.execution_status == "AVAILABLE":
        cs.execution_status = "OBSOLETE"


def update_begun(backend: Any, stack_id: str) -> None:
    """The stack's update has begun: each of its change sets, with their nested ones, is
    obsolete but those this thread executes. Called under LOCK."""
    _UPDATES[0] += 1
    _BEGUN[stack_id] = _UPDATES[0]
    spare = getattr(_EXECUTING, "ids", frozenset())
    for cs in list(backend.change_sets.values()):
        if cs.stack_id == stack_id and cs.change_set_id not in spare:
            for each in _tree(backend, cs):
                if each.change_set_id not in spare:
                    _mark_obsolete(each)


def update_stack(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """UpdateStack accepted (patch 3), or a nested stack's update inside its parent's."""
    # moto's update outside LOCK (a fleet's updates must not queue on one another); a
    # change set made meanwhile was made against the stack before it, and is obsolete too.
    stack = _moto.update_stack(self, name, *args, **kwargs)
    with LOCK:
        update_begun(self, stack.stack_id)
    return stack


def execute_change_set(self: Any, change_set_name: str, stack_name: Any = None) -> None:
    """ExecuteChangeSet (named by id: patch 56 looked it up): an OBSOLETE one is refused;
    otherwise executed, its nested change sets with it, and every other change set of their
    stacks deleted (their nested ones with them, patch 22), being created or not."""
    with LOCK:
        cs = self.change_sets.get(change_set_name)
        if cs is None:
            return _moto.execute_change_set(self, change_set_name, stack_name)  # moto answers
        if cs.execution_status == "OBSOLETE":
            raise invalid_status()
        tree = _tree(self, cs)
        outer = getattr(_EXECUTING, "ids", frozenset())
        _EXECUTING.ids = outer | {each.change_set_id for each in tree}
        try:
            _moto.execute_change_set(self, change_set_name, stack_name)
            update_begun(self, cs.stack_id)
        finally:
            _EXECUTING.ids = outer
        for nested in tree[1:]:
            settle(nested)  # created with its root (56), which was
            nested.execution_status = cs.execution_status
        # Each change set of the tree is executed on its stack: the root's, and each nested
        # stack's ("Change sets for nested stacks": executing the root executes them).
        kept = {each.change_set_id for each in tree}
        stacks = {each.stack_id for each in tree}
        for other in list(self.change_sets.values()):
            if other.stack_id in stacks and other.change_set_id not in kept and other.change_set_id in self.change_sets:
                delete_with_nested(self, other.change_set_id)


def describe_change_set(self: Any, change_set_name: str) -> Any:
    """DescribeChangeSet of a change set that does not exist: AWS's ChangeSetNotFound, 404
    (moto: ValidationError "Stack with id ... does not exist", 400)."""
    from moto.cloudformation.exceptions import CloudFormationError

    class ChangeSetNotFound(CloudFormationError):
        # The model's shape; serialised with its query code ChangeSetNotFound and HTTP 404.
        code = "ChangeSetNotFoundException"

    found = change_set_name in self.change_sets or any(
        cs.change_set_name == change_set_name for cs in list(self.change_sets.values())
    )
    if not found:
        raise ChangeSetNotFound(f"ChangeSet [{change_set_name}] does not exist")
    return _moto.describe_change_set(self, change_set_name)


def _already_exists(name: str, attribute: str) -> Exception:
    from moto.cloudformation.exceptions import AlreadyExistsException

    return AlreadyExistsException(f"ChangeSet {name} cannot be created due to a mismatch with existing attribute {attribute}")


def _request(self: Any, stack: Any) -> dict[str, Any]:
    """What a repeated CreateChangeSet is compared on: the template (as given, or the
    stack's for UsePreviousTemplate, or its URL), the parameters as given, the ClientToken."""
    template = self._get_param("TemplateBody")
    if stack is not None and self._get_bool_param("UsePreviousTemplate", False):
        template = stack.template
    if template is None:
        template = self._get_param("TemplateURL")
    parameters = tuple(sorted(
        (str(p.get("ParameterKey")), str(p.get("ParameterValue")), str(p.get("UsePreviousValue", False)).lower())
        for p in self._get_param("Parameters", []) or []
    ))
    return {"Template": template, "Parameters": parameters, "ClientToken": self._get_param("ClientToken")}


def _holder(backend: Any, stack_name: str, name: str) -> Any:
    """The stack's change set holding `name` (the latest: not executed, its stack not deleted)."""
    for cs in reversed(list(backend.change_sets.values())):
        if (cs.change_set_name == name and cs.stack_name == stack_name and cs.stack_id in backend.stacks
                and cs.execution_status not in EXECUTED):
            return cs
    return None


def _repeated(existing: Any, request: dict[str, Any], name: str) -> Any:
    """A CreateChangeSet naming a change set the stack has: the same request again with its
    ClientToken is answered with that change set (CreateChangeSet, ClientToken: "so that
    CloudFormation knows that you're not attempting to create another change set with the
    same name"); anything else is AlreadyExistsException naming the first attribute that
    differs. A request without a token is always another change set: ClientToken. (Template
    and ClientToken are the attributes AWS is reported naming; Parameters is this emulator's
    name for the parameters.)"""
    from moto.core.responses import ActionResult

    before = getattr(existing, "rt_request", {})
    for attribute in ("Template", "Parameters"):
        if before.get(attribute) != request[attribute]:
            raise _already_exists(name, attribute)
    if request["ClientToken"] is None or before.get("ClientToken") != request["ClientToken"]:
        raise _already_exists(name, "ClientToken")
    return ActionResult({"Id": existing.change_set_id, "StackId": existing.stack_id})


def create_change_set(self: Any) -> Any:
    """CreateChangeSet: refused when the stack has a change set by that name (AlreadyExists),
    one at a time per name; a change set whose stack began an update meanwhile is OBSOLETE."""
    backend = self.cloudformation_backend
    name, stack_name = self._get_param("ChangeSetName"), self._get_param("StackName")
    with LOCK:  # moto's lookup walks the stacks, which other requests add to
        try:
            stack = backend.get_stack(stack_name)
        except Exception:  # noqa: BLE001 - none yet (a CREATE change set), or moto answers
            stack = None
        if stack is not None:
            stack_name = stack.name
        request = _request(self, stack)
    key = (id(backend), stack_name, name)
    while True:
        with LOCK:
            if key not in _CREATING:
                existing = _holder(backend, stack_name, name)
                if existing is not None:
                    return _repeated(existing, request, name)
                _CREATING.add(key)
                started = _UPDATES[0]
                break
        time.sleep(0.01)  # the same name being created by another call: its outcome decides
    try:
        result = _moto.create_change_set(self)
    except BaseException:
        with LOCK:
            _CREATING.discard(key)
        raise
    with LOCK:
        _CREATING.discard(key)
        cs = backend.change_sets.get(result.result["Id"])
        if cs is not None:
            cs.rt_request = request
            for each in _tree(backend, cs):
                if _BEGUN.get(each.stack_id, 0) > started:
                    _mark_obsolete(each)
    return result


@patch(
    60, service="CloudFormation",
    behaviour="""A change set holds only while its stack stays as it was: when the stack's update
      begins (UpdateStack accepted, its parent's update reaching it as a nested stack, or
      ExecuteChangeSet of another change set), each of its change sets that could still be
      executed, with their nested ones, becomes ExecutionStatus OBSOLETE, its Status kept
      (one still being created, patch 56, ends OBSOLETE); ExecuteChangeSet of an OBSOLETE
      one is refused, InvalidChangeSetStatus (DeleteChangeSet is not). Executing a change set
      deletes every other change set of its stack (and, for its nested change sets, of their
      stacks), their nested ones with them; its nested change sets end with its
      ExecutionStatus. CreateChangeSet naming a change set
      the stack has (any not executed) is refused: AlreadyExistsException, HTTP 400,
      "ChangeSet <name> cannot be created due to a mismatch with existing attribute
      <Template | Parameters | ClientToken>", but for the same request repeated with its
      ClientToken, answered with that change set. DescribeChangeSet of a change set that does
      not exist: ChangeSetNotFound, HTTP 404, "ChangeSet [<name>] does not exist". moto: no
      OBSOLETE, an execution deletes nothing, a second change set of one name is made beside
      the first, and a missing one is ValidationError "Stack with id ... does not exist".""",
    source="""DescribeChangeSet and ChangeSetSummary API references, ExecutionStatus ("in an
      OBSOLETE state because the stack was already updated"); ExecuteChangeSet API reference
      ("When you execute a change set, CloudFormation deletes all other change sets
      associated with the stack because they aren't valid for the updated stack"; Errors:
      InvalidChangeSetStatus); CreateChangeSet API reference (Errors: AlreadyExists, HTTP
      400; ClientToken); DescribeChangeSet API reference (Errors: ChangeSetNotFound, HTTP
      404). AWS's answers as reported: InvalidChangeSetStatus "cannot be
      executed in its current execution status of [OBSOLETE]" (aws/amazon-chime-sdk-js#1089);
      AlreadyExistsException "ChangeSet cs2x0x0 cannot be created due to a mismatch with
      existing attribute Template" (saksdirect/nova#10), "... attribute ClientToken"
      (awslabs/landing-zone-accelerator-on-aws#442); a name reused once its change set was
      executed is accepted (elias5000/clouds-aws#9).""",
)
def install_change_set_lifecycle() -> None:
    """(60) Change sets made obsolete, deleted on another's execution, one per name (the
    patch's behaviour). Wraps patch 3's UpdateStack, patch 33's ExecuteChangeSet (patch 56
    wraps this one) and patch 16's CreateChangeSet. The API references cited:
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ChangeSetSummary.html
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ExecuteChangeSet.html
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html"""
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import responses as cfn_responses

    backend = cfn_models.CloudFormationBackend
    _moto.update_stack = backend.update_stack
    backend.update_stack = update_stack
    _moto.execute_change_set = backend.execute_change_set
    backend.execute_change_set = execute_change_set
    _moto.describe_change_set = backend.describe_change_set
    backend.describe_change_set = describe_change_set
    _moto.create_change_set = cfn_responses.CloudFormationResponse.create_change_set
    cfn_responses.CloudFormationResponse.create_change_set = create_change_set
