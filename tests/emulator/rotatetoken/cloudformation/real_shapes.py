"""CloudFormation as it treats the stacks real tools deploy: `cdk deploy` (change sets, an
SSM-typed `BootstrapVersion`, `AWS::CDK::Metadata`), `sam deploy`, the console, inline Lambda
code, templates that read a JSON key of a secret (33-40). Each patch names what AWS does, its
source, and what moto did instead. Nothing here models the product: only CloudFormation.
Tested on their own: tests/emulator/test_real_shapes.py (in make test).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from types import SimpleNamespace
from typing import Any

from ..registry import patch
from ..state import UPDATE_CHECKS
from .common import NESTED_TYPE, probe, roll_back
from .dynamic_refs import DYNAMIC_REF, ResourceFailed, resolve_one

CDK_METADATA = "AWS::CDK::Metadata"
SSM_TYPED = "AWS::SSM::Parameter::"
_moto = SimpleNamespace()  # moto's own functions, as found at install


def execute_change_set(self: Any, change_set_name: str, stack_name: Any = None) -> None:
    """(33) ExecuteChangeSet, leaving the stack as a direct create or update would."""
    change_set = self.describe_change_set(change_set_name)
    stack = self.stacks[change_set.stack_id]
    failing = [] if change_set.change_set_type == "CREATE" else failing_resources(
        stack, change_set.template_dict, dict(change_set.parameters or {}))
    if failing:
        roll_back(stack, failing, "UPDATE")
        change_set.execution_status = "EXECUTE_FAILED"
        return
    try:
        _moto.execute_change_set(self, change_set_name, stack_name)
    except ResourceFailed as failed:
        roll_back(stack, [(failed.logical_id or "?", "CREATE_FAILED", failed.reason)], change_set.change_set_type)
        change_set.execution_status = "EXECUTE_FAILED"
        return
    stack.template = change_set.template
    stack._parse_template()
    stack.parameters = dict(change_set.parameters or {})
    stack.output_map = stack._create_output_map()


@patch(
    33, service="CloudFormation",
    behaviour="""A change set's execution leaves the stack as a direct create/update does: template,
      Outputs, and parameters as given (an SSM-typed parameter keeps its Parameter Store
      name; UsePreviousValue looks it up again). moto: HTTP 500 on every `cdk deploy`
      stack's next CreateChangeSet/UpdateStack (`BootstrapVersion`).""",
    source="""CloudFormation User Guide, "Specify existing resources at runtime with
      CloudFormation-supplied parameter types".""",
)
def install_change_set_executions() -> None:
    """(33) A stack created or updated through a change set is left as a direct create or
    update leaves it: its template parsed, its parameters as given. For an SSM-typed
    parameter (`AWS::SSM::Parameter::Value<...>`) what is kept is the parameter's *name*:
    "CloudFormation retrieves the value ... each time you create or update the stack"
    ("Specify existing resources at runtime with CloudFormation-supplied parameter types",
    CloudFormation User Guide), so `UsePreviousValue` passes the name and it is looked up
    again. Every `cdk deploy` stack has one (`BootstrapVersion`, default
    `/cdk-bootstrap/hnb659fds/version`). moto kept the template it was created with
    (`{}` for a CREATE change set: no Outputs) and, for UsePreviousValue, the *resolved* value, which it
    then looked up in Parameter Store as a name: HTTP 500 on the next CreateChangeSet or
    UpdateStack. A change set's parameters also became the stack's only in its resources,
    so a later UsePreviousValue brought back the values from before the change set."""
    from moto.cloudformation import models as cfn_models

    _moto.execute_change_set = cfn_models.CloudFormationBackend.execute_change_set
    cfn_models.CloudFormationBackend.execute_change_set = execute_change_set


@patch(
    34, service="CloudFormation",
    behaviour="""DescribeStacks Parameters: the value given, `ResolvedValue` for SSM-typed ones,
      `****` for NoEcho, lists as comma-delimited text.""",
    source="""CloudFormation API reference, `Parameter` data type.""",
)
def install_describe_stacks_parameters() -> None:
    """(34) DescribeStacks' `Parameters` as AWS shows them (`Parameter` data type,
    CloudFormation API reference): `ParameterValue` is the value given (or the default);
    for an SSM-typed parameter that is the Parameter Store name, and `ResolvedValue` "the
    value that corresponds to a Systems Manager parameter key", returned only for those; a
    `NoEcho` parameter's value is shown as `****`; a list is its comma-delimited text.
    moto showed every parameter's resolved value (a list as Python's repr) and compared
    NoEcho against the value instead of the key."""
    from moto.cloudformation import models as cfn_models

    def text(v: Any) -> str:
        return ",".join(map(str, v)) if isinstance(v, list) else str(v)

    def parameter_list(self: Any) -> list[dict[str, Any]]:
        declared = ((getattr(self, "template_dict", None) or {}).get("Parameters") or {})
        resolved = self.resource_map.resolved_parameters
        given = self.parameters or {}
        out = []
        for key, value in resolved.items():
            spec = declared.get(key) or {}
            as_given = given.get(key, spec.get("Default", value))
            entry = {"ParameterKey": key, "ParameterValue": text(as_given)}
            if str(spec.get("Type", "")).startswith(SSM_TYPED):
                entry["ResolvedValue"] = text(value)
            if str(spec.get("NoEcho", "false")).lower() == "true":
                entry["ParameterValue"] = "****"
            out.append(entry)
        return out

    cfn_models.Stack.parameter_list = property(parameter_list)


@patch(
    35, service="CloudFormation",
    behaviour="""`AWS::CDK::Metadata` is a resource (moto: unmodelled, `Add` in every change set).""",
    source="""AWS CDK Developer Guide, "Version reporting" (the `AWS::CDK::Metadata` resource).""",
)
def install_cdk_metadata() -> None:
    """(35) `AWS::CDK::Metadata` is a resource like any other: created with the stack,
    updated or deleted when its template changes, and absent from a change set that leaves
    it alone. The CDK adds one to every stack unless version reporting is off ("Version
    reporting", AWS CDK Developer Guide: the `AWS::CDK::Metadata` resource, under the
    `CDKMetadataAvailable` region condition). moto does not model the type: it was never
    created, so every UPDATE change set showed it as `Add`."""
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel

    class CdkMetadata(CloudFormationModel):
        # moto files each model under the service named by its module (moto.<service>...).
        __module__ = "moto.cloudformation.models"

        def __init__(self, logical_id: str, properties: dict[str, Any]):
            self.logical_id = logical_id
            self.properties = properties
            self.id = str(uuid.uuid4())

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return CDK_METADATA

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return False

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any) -> Any:
            return cls(kwargs.get("LogicalId", resource_name), cloudformation_json.get("Properties") or {})

        @classmethod
        def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> Any:
            original_resource.properties = cloudformation_json.get("Properties") or {}
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> None:
            return None

        def delete(self, account_id: str, region_name: str) -> None:
            return None

        @property
        def physical_resource_id(self) -> str:
            return self.id

    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    assert parsing.get_model_map().get(CDK_METADATA) is CdkMetadata


@patch(
    36, service="CloudFormation",
    behaviour="""`Fn::GetAtt` Value and Type of an `AWS::SSM::Parameter` (moto: HTTP 500).""",
    source="""CloudFormation User Guide, AWS::SSM::Parameter, "Return values".""",
)
def install_ssm_parameter_attributes() -> None:
    """(36) `Fn::GetAtt` on an `AWS::SSM::Parameter`: `Type` and `Value` are its documented
    return values (AWS::SSM::Parameter, "Return values", CloudFormation User Guide).
    moto's Parameter had no `get_cfn_attribute`: HTTP 500 at CreateStack."""
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
    from moto.ssm import models as ssm_models

    def has_cfn_attr(cls: Any, attr: str) -> bool:
        return attr in ("Type", "Value")

    def get_cfn_attribute(self: Any, attr: str) -> Any:
        if attr == "Value":
            return self.value
        if attr == "Type":
            return self.parameter_type
        raise UnformattedGetAttTemplateException()

    ssm_models.Parameter.has_cfn_attr = classmethod(has_cfn_attr)
    ssm_models.Parameter.get_cfn_attribute = get_cfn_attribute


@patch(
    37, service="CloudFormation",
    behaviour="""A Lambda function with inline `ZipFile` code is updated in place (moto: "Incorrect
      padding", rollback).""",
    source="""CloudFormation User Guide, AWS::Lambda::Function Code (ZipFile).""",
)
def install_inline_lambda_code_updates() -> None:
    """(37) An `AWS::Lambda::Function` whose code is inline (`Code.ZipFile`, "the source
    code of your Lambda function ... CloudFormation places it in a file named index",
    AWS::Lambda::Function Code, CloudFormation User Guide) is updated in place like any
    other: moto zipped inline code on create but handed the plain text to its base64
    decoder on update ("Incorrect padding"), and the update rolled back."""
    from moto.awslambda import models as lambda_models

    cls = lambda_models.LambdaFunction
    original = cls.update_from_cloudformation_json.__func__

    def update(klass: Any, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> Any:
        code = (cloudformation_json.get("Properties") or {}).get("Code") or {}
        if isinstance(code.get("ZipFile"), str):
            code = dict(code, ZipFile=base64.b64encode(klass._create_zipfile_from_plaintext_code(code["ZipFile"])).decode())
            cloudformation_json = dict(cloudformation_json, Properties=dict(cloudformation_json["Properties"], Code=code))
        return original(klass, original_resource, new_resource_name, cloudformation_json, account_id, region_name)

    cls.update_from_cloudformation_json = classmethod(update)


@patch(
    38, service="CloudFormation",
    behaviour="""A missing parameter: "Parameters: [X] must have values" (moto: "Missing parameter X").""",
    source="""The AWS CLI's message for CreateStack and UpdateStack, e.g. aws/aws-cli#3283.""",
)
def install_missing_parameter_message() -> None:
    """(38) A parameter with no default and no value is refused with AWS's words:
    ValidationError "Parameters: [X] must have values" (as the AWS CLI prints it for
    CreateStack and UpdateStack, e.g. aws/aws-cli#3283). moto: "Missing parameter X"."""
    from moto.cloudformation import exceptions

    def init(self: Any, parameter_name: str) -> None:
        exceptions.CloudFormationError.__init__(self, f"Parameters: [{parameter_name}] must have values")

    exceptions.MissingParameterError.__init__ = init


# --- (39) resources that fail --------------------------------------------------------------

@patch(
    39, service="CloudFormation",
    behaviour="""A dynamic reference to a JSON key the secret lacks fails the resource with "Could not
      find a value associated with JSONKey in SecretString" and the operation rolls back,
      the resources as before (moto: HTTP 500 at create, a KeyError as an update's reason).""",
    source="""The message users report, aws/aws-sam-cli#2153; CloudFormation names neither the key
      nor the secret, aws-cloudformation/cloudformation-coverage-roadmap#1822.""",
)
def install_resources_that_fail() -> None:
    """(39) A dynamic reference to a JSON key the secret's value lacks fails that resource
    with "Could not find a value associated with JSONKey in SecretString" (the message
    users report, aws/aws-sam-cli#2153; CloudFormation names neither the key nor the secret,
    aws-cloudformation/cloudformation-coverage-roadmap#1822), and the stack operation rolls
    back: on create to ROLLBACK_COMPLETE, on update to UPDATE_ROLLBACK_COMPLETE with the
    resources as before, the resource's CREATE_FAILED or UPDATE_FAILED event carrying the
    reason and the stack's UPDATE_ROLLBACK_IN_PROGRESS event naming the resource ("The
    following resource(s) failed to create: [X]."). moto: HTTP 500 and a stack stuck in
    CREATE_IN_PROGRESS, or an update rolled back with Python's KeyError as its reason."""
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import parsing

    # The logical id of the resource being built, for a failure raised deep inside.
    for name in ("parse_and_create_resource", "parse_and_update_resource"):
        original = getattr(parsing, name)

        def naming(logical_id: str, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            try:
                return _original(logical_id, *args, **kwargs)
            except ResourceFailed as failed:
                failed.logical_id = failed.logical_id or logical_id
                raise

        setattr(parsing, name, naming)

    original_create_resources = cfn_models.Stack.create_resources

    def create_resources(self: Any) -> None:
        try:
            original_create_resources(self)
        except ResourceFailed as failed:
            roll_back(self, [(failed.logical_id or "?", "CREATE_FAILED", failed.reason)], "CREATE")

    cfn_models.Stack.create_resources = create_resources
    UPDATE_CHECKS.append(failing_resources)


def failing_resources(stack: Any, template: Any, params: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The resources an update would create or change whose dynamic references fail, as
    (logical id, CREATE_FAILED | UPDATE_FAILED, reason), found before anything is applied
    (CloudFormation resolves a reference only for a resource it creates or updates)."""
    if isinstance(template, str):
        template = stack.parse_template(template)
    resources = (template or {}).get("Resources") or {}
    if "{{resolve:" not in json.dumps(resources):
        return []
    loaded = probe(stack, template, params)
    new_values = loaded.resolved_parameters
    old_values = stack.resource_map.resolved_parameters
    changed = {k for k in new_values if str(new_values.get(k)) != str(old_values.get(k))}
    old_json = stack.resource_map._resource_json_map or {}
    existing = stack.resource_map._parsed_resources
    failing = []
    for logical, res in resources.items():
        if not isinstance(res, dict) or res.get("Type") == NESTED_TYPE:
            continue
        condition = res.get("Condition")
        if condition and not loaded.lazy_condition_map[condition]:
            continue
        raw = json.dumps(res.get("Properties") or {})
        exists = logical in existing and existing[logical] is not None
        if exists and old_json.get(logical) == res and not any(
            f'"Ref": "{p}"' in raw or "${" + p + "}" in raw for p in changed
        ):
            continue  # left alone: its references are not read again
        for match in DYNAMIC_REF.finditer(_substituted(raw, new_values)):
            try:
                resolve_one(match.group(1), match.group(2), stack.account_id, stack.region_name)
            except ResourceFailed as failed:
                failing.append((logical, "UPDATE_FAILED" if exists else "CREATE_FAILED", failed.reason))
                break
            except Exception:
                continue  # other reference errors keep their own handling
    return failing


def _substituted(text: str, values: dict[str, Any]) -> str:
    """`${Param}` inside a reference (Fn::Sub) replaced by the parameter's value."""
    return re.sub(r"\$\{([A-Za-z0-9]+)\}", lambda m: str(values.get(m.group(1), m.group(0))), text)


@patch(
    40, service="CloudFormation",
    behaviour="""A defaulted list-typed parameter is a list, as a given one is (moto: one string, so
      every UsePreviousValue update looked like a change to what reads it).""",
    source="""CloudFormation User Guide, "Parameters": CommaDelimitedList "an array of literal
      strings that are separated by commas".""",
)
def install_list_parameter_defaults() -> None:
    """(40) A list-typed parameter (`CommaDelimitedList`, `List<Number>`, `List<...>`) is a
    list whether its value was given or defaulted ("Parameters", CloudFormation User Guide:
    CommaDelimitedList "an array of literal strings that are separated by commas"). moto
    split only given values: a defaulted list stayed one string, so the next update, which
    passes it back with UsePreviousValue (now given, so split), looked like a change to
    every resource reading it (`Modify` in change sets, a side change)."""
    from moto.cloudformation import parsing

    original = parsing.ResourceMap.load_parameters

    def load_parameters(self: Any) -> None:
        original(self)
        for key, spec in (self._template.get("Parameters") or {}).items():
            kind = str((spec or {}).get("Type", ""))
            value = self.resolved_parameters.get(key)
            if not isinstance(value, str) or not (kind == "CommaDelimitedList" or kind.startswith("List<")):
                continue
            items: list[Any] = value.split(",")
            if kind == "List<Number>":
                items = [int(v) if v.strip().lstrip("-").isdigit() else float(v) for v in items]
            self.resolved_parameters[key] = items
            self._parsed_resources[key] = items

    parsing.ResourceMap.load_parameters = load_parameters


@patch(
    58, service="CloudFormation",
    behaviour="""UpdateStack without `RoleARN` keeps the stack's service role (moto dropped it:
      DescribeStacks showed no RoleARN after any update without one). An executed change
      set keeps it too (moto's change sets never touch it), even one naming another role.""",
    source="""CloudFormation API reference, UpdateStack and CreateChangeSet, `RoleARN`: "If you
      don't specify a value, CloudFormation uses the role that was previously associated
      with the stack." """,
)
def install_service_role_kept() -> None:
    """(58) A stack keeps its service role through updates that name none (UpdateStack,
    `RoleARN`: "If you don't specify a value, CloudFormation uses the role that was
    previously associated with the stack"; the same for a change set). moto set the role
    to whatever the update named, so every update without one removed it, and a refresh
    would have judged a stack that has a service role as one without. Wraps moto's update
    where patch 3 calls it (moto's ExecuteChangeSet applies the change set without it)."""
    from . import updates

    def keeping(original: Any) -> Any:
        def update(self: Any, template: str, role_arn: Any = None, *args: Any, **kwargs: Any) -> None:
            original(self, template, role_arn or getattr(self, "role_arn", None), *args, **kwargs)

        return update

    updates._moto.stack_update = keeping(updates._moto.stack_update)
