"""(29) An update changes a resource in place unless a create-only property changed;
(30) each resource's own last-updated time and status."""

from __future__ import annotations

import copy
import json
import os
from types import SimpleNamespace
from typing import Any

from ..registry import patch
from ..state import TOUCHED
from .common import NESTED_TYPE

_moto = SimpleNamespace()  # moto's own functions, as found at install
_SCHEMA_CACHE: dict[tuple[str, str], list[list[str]]] = {}


def declared_properties(resource_json: dict[str, Any], resources_map: Any) -> Any:
    """A resource's properties as CloudFormation compares them on update: parameters and
    intrinsic functions evaluated, dynamic references left as written. CloudFormation never
    resolves a `{{resolve:...}}` to compare it ("Using dynamic references": "CloudFormation
    doesn't detect ... when the value of the referenced secret changes"; a reference that
    pins another VersionId is a changed property)."""
    from moto.cloudformation import parsing

    return parsing.clean_json(copy.deepcopy(resource_json.get("Properties") or {}), resources_map)


def create_only_paths(resource_type: str, region: str) -> list[list[str]]:
    """The properties of a resource type whose change replaces the resource: its registry
    schema's `createOnlyProperties` ("Resource type schema", CloudFormation CLI user guide:
    "createOnlyProperties: a list of JSON pointers to properties that can only be specified
    when the resource is created; changing them requires the resource to be replaced";
    "Update behaviors of stack resources": Replacement). The schemas are AWS's own, as
    shipped in cfn-lint (pinned in tests/requirements.txt). A type with no schema
    (Custom::*, third-party) is updated in place."""
    key = (resource_type, region)
    if key not in _SCHEMA_CACHE:
        import cfnlint

        base = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas")
        providers_file = os.path.join(base, "providers", f"{region}.json")
        if not os.path.exists(providers_file):
            providers_file = os.path.join(base, "providers", "us-east-1.json")
        with open(providers_file) as f:
            digest = json.load(f).get(resource_type)
        paths: list[list[str]] = []
        if digest:
            with open(os.path.join(base, "resources", f"{digest}.json")) as f:
                schema = json.load(f)
            for pointer in schema.get("createOnlyProperties", []):
                parts = pointer.strip("/").split("/")
                if parts and parts[0] == "properties" and len(parts) > 1:
                    paths.append(parts[1:])
        _SCHEMA_CACHE[key] = paths
    return _SCHEMA_CACHE[key]


def _at(props: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(props, dict):
            return None
        props = props.get(part)
    return props


def replacing_properties(resource_type: str, region: str, old: Any, new: Any) -> list[str]:
    """The create-only properties that differ between `old` and `new` (top-level names)."""
    return sorted({path[0] for path in create_only_paths(resource_type, region) if _at(old, path) != _at(new, path)})


def parse_and_create_resource(logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str) -> Any:
    declared = declared_properties(resource_json, resources_map) if resource_json.get("Type") != NESTED_TYPE else None
    resource = _moto.parse_and_create_resource(logical_id, resource_json, resources_map, account_id=account_id, region_name=region_name)
    if resource is not None and declared is not None:
        resource.rt_props = declared
    if resource is not None:
        stamp(resource, "CREATE_COMPLETE")
    return resource


def parse_and_update_resource(logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str) -> Any:
    from moto.cloudformation import parsing

    original = resources_map._parsed_resources.get(logical_id)
    if resource_json.get("Type") == NESTED_TYPE or not hasattr(original, "rt_props"):
        return _moto.parse_and_update_resource(logical_id, resource_json, resources_map, account_id=account_id, region_name=region_name)
    declared = declared_properties(resource_json, resources_map)
    if declared == original.rt_props:
        return original  # nothing changed: CloudFormation leaves the resource alone
    touched = getattr(TOUCHED, "log", None)
    resource_type = resource_json["Type"]
    replacing = replacing_properties(resource_type, region_name, original.rt_props, declared)
    if replacing:
        return _replace(logical_id, resource_json, resources_map, account_id, region_name, original, declared, touched)
    resource_class, cleaned, _ = parsing.parse_resource_and_generate_name(logical_id, resource_json, resources_map)
    if hasattr(resource_class.update_from_cloudformation_json, "__isabstractmethod__"):
        raise NotImplementedError(f"the emulator cannot update {resource_type} {logical_id} in place")
    physical = getattr(original, "physical_resource_id", None) or getattr(original, "name", None)
    updated = resource_class.update_from_cloudformation_json(
        original_resource=original, new_resource_name=physical, cloudformation_json=cleaned,
        account_id=account_id, region_name=region_name,
    )
    updated.cf_resource_type = resource_type
    updated.logical_resource_id = logical_id
    updated.rt_props = declared
    stamp(updated, "UPDATE_COMPLETE")
    if touched is not None:
        touched.append((logical_id, "Modify"))
    return updated


def _replace(logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str,
             original: Any, declared: Any, touched: list | None) -> Any:
    """A new resource in place of `original` (a create-only property changed): created
    first, the old one deleted in cleanup; refused for a custom-named resource."""
    from moto.cloudformation import parsing

    resource_type = resource_json["Type"]
    name_property = parsing.resource_name_property_from_type(resource_type)
    if name_property and name_property in declared and declared.get(name_property) == original.rt_props.get(name_property):
        raise ValueError(
            "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
            f"Rename {declared[name_property]} and update the stack again."
        )
    resource_class, cleaned, new_name = parsing.parse_resource_and_generate_name(logical_id, resource_json, resources_map)
    replacement = resource_class.create_from_cloudformation_json(
        new_name, cleaned, account_id, region_name,
        LogicalId=logical_id, StackId=resources_map.stack_id, ResourceType=resource_type,
    )
    replacement.cf_resource_type = resource_type
    replacement.logical_resource_id = logical_id
    replacement.rt_props = declared
    stamp(replacement, "CREATE_COMPLETE")
    resources_map._delete_resource(original, resource_json)  # cleanup deletes the old one
    if touched is not None:
        touched.append((logical_id, "Replace"))
    return replacement


@patch(
    29, service="CloudFormation",
    behaviour="""An update changes a resource in place (same physical id) unless a create-only
      property changed, by the type's registry schema (`createOnlyProperties`, AWS's
      schemas as cfn-lint ships them): then it is replaced (new physical id, the old one
      deleted). A custom-named resource that needs replacing is refused, as on AWS.
      Properties are compared with dynamic references as written, so a reference that
      pins another VersionId is a change, and parameters reached through Fn::Sub count.
      Change sets say the same: Replacement True | Conditional | False with
      Details[].Target.Name and RequiresRecreation Always | Conditionally | Never. The
      update log says what each update did: "resources": {deleted, created, modified,
      replaced} with physical ids. moto: SSM parameters are deleted and recreated under a
      new name on every update, parameters in Fn::Sub change nothing, and change sets say
      Replacement Conditional for everything.""",
    source="""CloudFormation User Guide, "Update behaviors of stack resources" and "Using dynamic
      references"; CloudFormation CLI user guide, "Resource type schema"
      (createOnlyProperties).""",
)
def install_in_place_updates() -> None:
    """(29) An update changes a resource in place unless a create-only property changed:
    the resource keeps its physical id ("Update behaviors of stack resources": Update with
    No interruption / Some interruption keep the physical ID; Replacement "generates a new
    physical ID", creates the new resource first and deletes the old one during cleanup).
    A resource with a custom name that needs replacing cannot be updated: AWS refuses with
    "CloudFormation cannot update a stack when a custom-named resource requires replacing.
    Rename <name> and update the stack again." moto updates SSM parameters by deleting them
    and recreating them under a new generated name, and updates nothing whose parameter is
    reached through Fn::Sub (conditions.py compares the properties on every update)."""
    from moto.cloudformation import parsing

    _moto.parse_and_create_resource = parsing.parse_and_create_resource
    parsing.parse_and_create_resource = parse_and_create_resource
    _moto.parse_and_update_resource = parsing.parse_and_update_resource
    parsing.parse_and_update_resource = parse_and_update_resource


def stamp(resource: Any, status: str) -> None:
    """(30) When CloudFormation last acted on this resource, and how."""
    from moto.core.utils import utcnow

    try:
        resource.rt_updated_at = utcnow()
        resource.rt_status = status
    except AttributeError:  # a model that refuses new attributes keeps moto's answer
        pass


def list_stack_resources(self: Any) -> Any:
    from moto.core.responses import ActionResult

    stack, resources = self.cloudformation_backend.list_stack_resources(self._get_param("StackName"))
    return ActionResult({
        "StackResourceSummaries": [
            {
                "ResourceStatus": getattr(r, "rt_status", "CREATE_COMPLETE"),
                "LogicalResourceId": getattr(r, "logical_resource_id", ""),
                "LastUpdatedTimestamp": getattr(r, "rt_updated_at", None) or stack.creation_time,
                "PhysicalResourceId": getattr(r, "physical_resource_id", ""),
                "ResourceType": getattr(r, "cf_resource_type", ""),
            }
            for r in resources
        ]
    })


def _resource_dto_init(self: Any, stack: Any, resource: Any) -> None:
    _moto.dto_init(self, stack, resource)
    at = getattr(resource, "rt_updated_at", None)
    if at is not None:
        self.timestamp = at
        self.resource_status = getattr(resource, "rt_status", self.resource_status)


@patch(
    30, service="CloudFormation",
    behaviour="""Resource times: ListStackResources' LastUpdatedTimestamp and DescribeStackResources'
      Timestamp are "Time the status was updated" (StackResourceSummary, StackResource,
      CloudFormation API reference): the time CloudFormation last created, updated or
      replaced that resource; an update that leaves a resource alone leaves its time alone.
      ResourceStatus is CREATE_COMPLETE or UPDATE_COMPLETE accordingly. moto: the stack's
      creation time (ListStackResources, always CREATE_COMPLETE) or a fixed 2010 date.""",
    source="""CloudFormation API reference, StackResourceSummary and StackResource ("Time the
      status was updated").""",
)
def install_resource_times() -> None:
    """(30) Per-resource times and statuses in ListStackResources and DescribeStackResources
    (stamped by the create and update above)."""
    from moto.cloudformation import responses

    _moto.dto_init = responses.StackResourceDTO.__init__
    responses.StackResourceDTO.__init__ = _resource_dto_init
    responses.CloudFormationResponse.list_stack_resources = list_stack_resources
