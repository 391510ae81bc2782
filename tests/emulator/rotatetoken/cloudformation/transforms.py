"""Transforms as CloudFormation runs them: (17) `AWS::Serverless-2016-10-31` expanded by
the real SAM translator, GetTemplate's TemplateStage; (23) `AWS::Include` from S3."""

from __future__ import annotations

import copy
import json
import re
from types import SimpleNamespace
from typing import Any

from ..registry import patch
from ..state import PARSE_CONTEXT

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
INCLUDE = "AWS::Include"
_moto = SimpleNamespace()  # moto's own functions, as found at install


def template_transforms(template: dict[str, Any]) -> list[str]:
    """The template's transforms: the top-level `Transform` and every `Fn::Transform`."""
    t = template.get("Transform") or []
    t = [t] if isinstance(t, (str, dict)) else t
    names = [x if isinstance(x, str) else str(x.get("Name")) for x in t]

    def scan(node: Any) -> None:
        if isinstance(node, dict):
            inner = node.get("Fn::Transform")
            if isinstance(inner, dict):
                names.append(str(inner.get("Name")))
            for v in node.values():
                scan(v)
        elif isinstance(node, list):
            for v in node:
                scan(v)

    scan({k: v for k, v in template.items() if k != "Transform"})
    return names


def include_expand(template: dict[str, Any], account: str, parse: Any) -> dict[str, Any]:
    """(23) `AWS::Include` (User Guide, "AWS::Include transform"): the snippet at
    `Parameters.Location` (an S3 URI or URL) is read and put in place of the
    `Fn::Transform` (merged into the mapping that holds it), or merged into the template for
    a top-level `Transform`. CloudFormation keeps the original template and processes it
    again on every create, update (UsePreviousTemplate included) and change set, so a
    snippet changed in S3 changes the stack at its next update. moto: not supported."""
    from moto.s3.models import s3_backends

    def fetch(location: str) -> Any:
        m = re.match(r"s3://([^/]+)/(.+)", location) or re.match(r"https://s3[.a-z0-9-]*\.amazonaws\.com/([^/]+)/(.+)", location) \
            or re.match(r"https://([^.]+)\.s3[.a-z0-9-]*\.amazonaws\.com/(.+)", location)
        if not m:
            raise ValueError(f"Transform {INCLUDE} failed with: invalid Location {location}")
        body = s3_backends[account]["aws"].get_object(m.group(1), m.group(2)).value.decode("utf-8")
        return parse(body)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            inner = node.get("Fn::Transform")
            if isinstance(inner, dict) and inner.get("Name") == INCLUDE:
                snippet = walk(fetch((inner.get("Parameters") or {}).get("Location", "")))
                rest = {k: walk(v) for k, v in node.items() if k != "Fn::Transform"}
                return {**snippet, **rest} if isinstance(snippet, dict) else snippet
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out = walk(template)
    top = out.get("Transform")
    listed = [top] if isinstance(top, (str, dict)) else list(top or [])
    for t in [t for t in listed if isinstance(t, dict) and t.get("Name") == INCLUDE]:
        listed.remove(t)
        out = {**out, **walk(fetch((t.get("Parameters") or {}).get("Location", "")))}
    if top is not None:
        if listed:
            out["Transform"] = listed
        else:
            out.pop("Transform", None)
    return out


def sam_expand(template: dict[str, Any], region: str, account: str) -> dict[str, Any]:
    """(17) `Transform: AWS::Serverless-2016-10-31` expanded by the real SAM translator
    (`aws-sam-translator`, pinned: the library SAM itself uses), as CloudFormation does on
    every create and update, also with UsePreviousTemplate (the original template is kept
    and re-expanded)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    session = boto3.Session(region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
    translator = Translator({}, Parser(), boto_session=session)
    return translator.translate(copy.deepcopy(template), {"AWS::AccountId": account}, get_managed_policy_map=lambda: {})


def parse_as_submitted(template: str) -> Any:
    """moto's own parse: the template as submitted, no transform run."""
    return _moto.parse_template(template)


def parse_template(template: str) -> dict[str, Any]:
    """The processed template: AWS::Include and the SAM transform run, for the account and
    region of PARSE_CONTEXT."""
    parsed = _moto.parse_template(template)
    if isinstance(parsed, dict) and INCLUDE in template_transforms(parsed):
        parsed = include_expand(parsed, getattr(PARSE_CONTEXT, "account", "123456789012"), _moto.parse_template)
    if isinstance(parsed, dict) and SAM_TRANSFORM in template_transforms(parsed):
        region = getattr(PARSE_CONTEXT, "region", "us-east-1")
        account = getattr(PARSE_CONTEXT, "account", "123456789012")
        return sam_expand(parsed, region, account)
    return parsed


def _parse_template_cs(self: Any) -> None:
    self.template_dict = parse_template(self.template)


def _parse_template_stack(self: Any) -> None:
    PARSE_CONTEXT.region = getattr(self, "region_name", None) or getattr(PARSE_CONTEXT, "region", "us-east-1")
    PARSE_CONTEXT.account = self.account_id
    self.template_dict = parse_template(self.template)


def get_template(self: Any) -> Any:
    """GetTemplate honours TemplateStage: Original (the default) is the template as
    submitted, Processed the one after transforms (GetTemplate API reference)."""
    from moto.core.responses import ActionResult

    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    body = stack.template
    if self._get_param("TemplateStage") == "Processed":
        raw = _moto.parse_template(body)
        if isinstance(raw, dict) and template_transforms(raw):
            PARSE_CONTEXT.region, PARSE_CONTEXT.account = stack.region_name, stack.account_id
            body = json.dumps(parse_template(body))
    return ActionResult({"TemplateBody": body, "StagesAvailable": ["Original", "Processed"]})


@patch(
    17, service="CloudFormation",
    behaviour="""`Transform: AWS::Serverless-2016-10-31` expanded with the real SAM translator on
      every create/update (UsePreviousTemplate re-expands the original); GetTemplate
      honours TemplateStage (Original as submitted, Processed expanded). moto: the
      transform is ignored and the stack has no resources.""",
    source="""aws-sam-translator (the library SAM itself uses, pinned); GetTemplate API reference
      (TemplateStage).""",
)
@patch(
    23, service="CloudFormation",
    behaviour="""`AWS::Include` (a top-level Transform or `Fn::Transform`) is processed from S3 on
      every create, update (UsePreviousTemplate too) and change set, so a changed snippet
      shows in a change set and is applied by the next update. moto: not supported.""",
    source="""CloudFormation User Guide, "AWS::Include transform".""",
)
def install_transforms() -> None:
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import responses as cfn_responses

    _moto.parse_template = cfn_models.Stack.parse_template
    cfn_models.Stack.parse_template = staticmethod(parse_template)
    cfn_models.ChangeSet._parse_template = _parse_template_cs
    cfn_models.Stack._parse_template = _parse_template_stack
    cfn_responses.CloudFormationResponse.get_template = get_template


@patch(
    62, service="CloudFormation",
    behaviour="""A template body is parsed once, not at every call that reads it: moto parsed the
      stack's YAML again (pure-Python PyYAML) for each change set, update and policy check,
      10% of the local AWS's CPU samples (py-spy) at the start of a 1,300-stack fleet
      benchmark, which slowed every other answer of the same process. Each caller still
      gets a template of its own (a deep copy of the first parse, as moto callers change
      what they are given), and a body that does not parse fails as before, every time.""",
    source="""moto 5.2.5: cloudformation/models.py Stack.parse_template (yaml.load with the
      same tag constructor, utils.py yaml_tag_constructor, at every call, then json.loads:
      a function of the body alone); cloudformation/parsing.py, which changes the resources
      it is given (hence the copy). py-spy, 2026-12-07, the fleet benchmark's start.""",
)
def install_parse_cache() -> None:
    """(62) moto's own parse (`_moto.parse_template`, found by patch 17's installer)
    memoised by body: the 512 latest bodies, each answered as a deep copy."""
    import functools

    parse = _moto.parse_template

    @functools.lru_cache(maxsize=512)
    def parsed_once(template: str) -> Any:
        return parse(template)

    def cached(template: Any) -> Any:
        if not isinstance(template, str):
            return parse(template)
        return copy.deepcopy(parsed_once(template))

    _moto.parse_template = cached
