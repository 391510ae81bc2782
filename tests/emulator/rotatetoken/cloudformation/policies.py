"""What CloudFormation requires before it changes a stack: (16) capabilities acknowledged,
(20) the stack policy's allowance for what an update deletes."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from ..registry import patch
from ..request_log import log_implied_call
from ..state import CHANGE_SET_CAPS, LOCK, PARSE_CONTEXT
from ..wildcards import wildcard
from .common import NESTED_TYPE, condition_values, probe
from .transforms import SAM_TRANSFORM, parse_as_submitted, parse_template, template_transforms

_moto = SimpleNamespace()  # moto's own functions (and an error class), as found at install

# CloudFormation User Guide, "Acknowledging IAM resources in CloudFormation templates", and
# the UpdateStack/CreateStack API reference ("Capabilities"): these types need CAPABILITY_IAM
# or CAPABILITY_NAMED_IAM; with a custom name (the property here), only CAPABILITY_NAMED_IAM.
IAM_TYPES = {
    "AWS::IAM::AccessKey": None,
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Policy": None,
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::UserToGroupAddition": None,
}


class InsufficientCapabilities(Exception):
    pass


def required_capabilities(original: dict[str, Any], processed: dict[str, Any], via_change_set: bool) -> list[str]:
    """(16) What CloudFormation requires acknowledged for this template. IAM resources are
    judged on the processed template (whatever their Condition: the check is on the
    template). CAPABILITY_AUTO_EXPAND: a template with a Transform (macros, AWS::Include,
    AWS::Serverless) created or updated directly, not through a change set (UpdateStack API
    reference: "If your stack template contains one or more macros, and you choose to
    create a stack directly from the processed template, without first reviewing the
    resulting changes in a change set, you must acknowledge this capability. This
    includes the AWS::Include and AWS::Serverless transforms")."""
    needed: list[str] = []
    named = False
    iam = False
    for res in ((processed or {}).get("Resources") or {}).values():
        if not isinstance(res, dict) or res.get("Type") not in IAM_TYPES:
            continue
        iam = True
        name_prop = IAM_TYPES[res["Type"]]
        if name_prop and name_prop in (res.get("Properties") or {}):
            named = True
    if named:
        needed.append("CAPABILITY_NAMED_IAM")
    elif iam:
        needed.append("CAPABILITY_IAM")
    if template_transforms(original) and not via_change_set:
        needed.append("CAPABILITY_AUTO_EXPAND")
    return needed


def check_capabilities(original: dict[str, Any], processed: dict[str, Any], given: list[str], via_change_set: bool) -> None:
    missing = []
    for cap in required_capabilities(original, processed, via_change_set):
        if cap == "CAPABILITY_IAM" and ("CAPABILITY_IAM" in given or "CAPABILITY_NAMED_IAM" in given):
            continue
        if cap not in given:
            missing.append(cap)
    if missing:
        raise InsufficientCapabilities(f"Requires capabilities : [{', '.join(missing)}]")


def _given(self: Any) -> list[str]:
    caps = self._get_param("Capabilities") or []
    return [c for c in caps if isinstance(c, str)]


def checked_call(self: Any, action: str, via_change_set: bool, original: Any) -> Any:
    """CreateStack, UpdateStack or CreateChangeSet (`action`), refused without the
    capabilities its template requires; then moto's own (`original`)."""
    from moto.cloudformation.exceptions import ValidationError

    body = self._get_param("TemplateBody")
    if self._get_bool_param("UsePreviousTemplate", False) or (not body and action == "update_stack"):
        body = self.cloudformation_backend.get_stack(self._get_param("StackName")).template
    elif not body and self._get_param("TemplateURL"):
        body = self._get_stack_from_s3_url(self._get_param("TemplateURL"))
    caps = _given(self)
    if body:
        PARSE_CONTEXT.region, PARSE_CONTEXT.account = self.region, self.current_account
        raw = parse_as_submitted(body)
        try:
            processed = parse_template(body)
        except Exception as exc:  # SAM's own validation errors, as CloudFormation reports them
            raise ValidationError(message=f"Transform {SAM_TRANSFORM} failed with: {exc}")
        try:
            check_capabilities(raw, processed, caps, via_change_set)
        except InsufficientCapabilities as exc:
            raise _moto.InsufficientCapabilitiesException(str(exc))
        if template_transforms(raw):
            # Expanding a transform is authorised as CreateChangeSet on the
            # transform's ARN, for the caller (CloudFormation User Guide,
            # "Controlling access with IAM": arn:aws:cloudformation:<region>:aws:transform/Serverless-2016-10-31).
            log_implied_call(self, "cloudformation:CreateChangeSet")
    result = original(self)
    # (22) An update, or a change set with IncludeNestedStacks, reads each nested
    # stack's TemplateURL again with the caller's credentials: s3:GetObject for it
    # (an "S3 error: Access Denied" when not allowed is a known failure of nested
    # updates, e.g. aws-solutions-library-samples/cloud-intelligence-dashboards-data-collection#417).
    reads_nested = action == "update_stack" or (
        action == "create_change_set" and self._get_bool_param("IncludeNestedStacks", False))
    if body and reads_nested and any(
        isinstance(r, dict) and r.get("Type") == NESTED_TYPE for r in (processed.get("Resources") or {}).values()
    ):
        log_implied_call(self, "s3:GetObject")
    stack_name = self._get_param("StackName")
    # DescribeStacks lists the capabilities of the last direct create/update; a
    # change set's are recorded without CAPABILITY_AUTO_EXPAND (field notes: stacks
    # deployed by `sam deploy` or the console never list it).
    if action == "create_change_set":
        CHANGE_SET_CAPS[(self.current_account, self.region, stack_name)] = [c for c in caps if c != "CAPABILITY_AUTO_EXPAND"]
    elif action in ("create_stack", "update_stack"):
        with LOCK:
            try:
                self.cloudformation_backend.get_stack(stack_name).capabilities = caps
            except Exception:
                pass
    return result


def guarded(action: str, via_change_set: bool) -> None:
    """The API handler for `action`, checked (checked_call) before moto runs it."""
    from moto.cloudformation import responses as cfn_responses

    original = getattr(cfn_responses.CloudFormationResponse, action)

    def handler(self: Any) -> Any:
        return checked_call(self, action, via_change_set, original)

    setattr(cfn_responses.CloudFormationResponse, action, handler)


def execute_change_set(self: Any, change_set_name: str, stack_name: Any = None) -> None:
    _moto.execute_change_set(self, change_set_name, stack_name)
    for stack in self.stacks.values():
        caps = CHANGE_SET_CAPS.get((self.account_id, self.region_name, stack.name))
        if caps is not None and stack.status.endswith("_COMPLETE"):
            stack.capabilities = caps


@patch(
    16, service="CloudFormation",
    behaviour="""CloudFormation capabilities: CreateStack/UpdateStack/CreateChangeSet refused with
      InsufficientCapabilitiesException "Requires capabilities : [...]" without
      CAPABILITY_IAM / CAPABILITY_NAMED_IAM (IAM resources, named) or, for direct
      create/update of a template with a Transform, CAPABILITY_AUTO_EXPAND. DescribeStacks
      lists the capabilities given; a change set's without CAPABILITY_AUTO_EXPAND (as
      `sam deploy` leaves stacks). moto: no check, no Capabilities.""",
    source="""CloudFormation User Guide, "Acknowledging IAM resources in CloudFormation templates";
      CreateStack/UpdateStack API reference, "Capabilities".""",
)
def install_capabilities() -> None:
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation.exceptions import CloudFormationError

    class InsufficientCapabilitiesException(CloudFormationError):
        code = "InsufficientCapabilitiesException"

    _moto.InsufficientCapabilitiesException = InsufficientCapabilitiesException
    guarded("create_stack", via_change_set=False)
    guarded("update_stack", via_change_set=False)
    guarded("create_change_set", via_change_set=True)
    _moto.execute_change_set = cfn_models.CloudFormationBackend.execute_change_set
    cfn_models.CloudFormationBackend.execute_change_set = execute_change_set
    cfn_models.Stack.capabilities = []


def _listed(stmt: dict, key: str, not_key: str, item: str) -> bool:
    for k, negate in ((key, False), (not_key, True)):
        if k in stmt:
            pats = stmt[k] if isinstance(stmt[k], list) else [stmt[k]]
            hit = any(wildcard(p, item) for p in pats)
            return hit != negate
    return False


def _condition_ok(stmt: dict, rtype: str) -> bool:
    for op, tests in (stmt.get("Condition") or {}).items():
        want = tests.get("ResourceType")
        if want is None:
            continue
        want = want if isinstance(want, list) else [want]
        if op == "StringEquals" and rtype not in want:
            return False
        if op == "StringLike" and not any(wildcard(w, rtype) for w in want):
            return False
    return True


def denied_by_stack_policy(stack: Any, template: str, params: dict[str, Any]) -> list[str]:
    """(20) Stack policies are enforced on updates (CloudFormation User Guide, "Prevent
    updates to stack resources"): with a policy set, an update action on a resource is
    denied unless a statement allows it, and an explicit Deny wins. An update that would
    delete a protected resource fails and rolls back. Only Update:Delete (a resource
    whose Condition turns false) is judged here: the other update actions are not
    something the product's updates do. moto stores the policy and ignores it.
    Called by UpdateStack (updates.py) as the update applies."""
    from moto.cloudformation import models as cfn_models

    policy_text = getattr(stack, "policy", "") or ""
    if not policy_text.strip():
        return []
    policy = json.loads(policy_text)
    statements = policy.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    body = cfn_models.Stack.parse_template(template)
    conditions = body.get("Conditions") or {}
    value = condition_values(probe(stack, body, params), conditions)

    denied = []
    for logical, res in (body.get("Resources") or {}).items():
        cond = res.get("Condition") if isinstance(res, dict) else None
        if not cond or value.get(cond, True) or logical not in stack.resource_map._parsed_resources:
            continue
        target = f"LogicalResourceId/{logical}"

        def applies(effect: str) -> bool:
            return any(
                st.get("Effect") == effect and _listed(st, "Action", "NotAction", "Update:Delete")
                and _listed(st, "Resource", "NotResource", target) and _condition_ok(st, res.get("Type", ""))
                for st in statements
            )
        if applies("Deny") or not applies("Allow"):
            denied.append(logical)
    return denied
