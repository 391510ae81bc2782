"""Reviews the IAM of template.yaml and target-role.yaml beyond action names, for one set of
deploy parameters: resources and the conditions that hold the trust boundary.

1. Resources. No Allow statement of a role (each function's, the state machine's, the
   target role) names `*`, or a whole service (`arn:aws:s3:::*`), unless every action in it
   takes no resource ARN (the Service Authorization Reference lists no resource type, or
   the call that lists is authorised on `*`): NO_RESOURCE_ACTIONS below, each with why. A
   statement's resources must belong to its actions' service.
2. Conditions, by requests that must be refused and requests that must be allowed (so the
   evaluator cannot pass by refusing everything), evaluated as IAM does ("Policy
   evaluation logic", IAM user guide: an explicit Deny wins, then an Allow whose
   Principal, Action, Resource and every Condition match; otherwise an implicit deny):
   the target role's trust policy (external ID, the pipeline's roles only), the runs
   bucket (TLS only, only the pipeline writes), the alerts topic (TLS only, CloudWatch
   alarms of this account), the forwarded-events bus (listed accounts, Secrets Manager
   events only).

Usage: python tests/emulator/iam_review.py template.yaml target-role.yaml '{"TargetAccountIds": "..."}'
Prints a JSON list of problems, empty when there are none.
"""

import json
import re
import sys
from typing import Any

from cfnlint.decode import decode

from iam_policies import NO_VALUE, Evaluator, pipeline_roles
from rotatetoken.wildcards import wildcard

ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK = "rotatetoken"

# Actions authorised only on `*` (IAM Service Authorization Reference, "Actions, resources,
# and condition keys" for each service).
NO_RESOURCE_ACTIONS = {
    # CloudWatch Logs log delivery, which Step Functions logging requires on `*`
    # ("Logging using CloudWatch Logs", Step Functions developer guide).
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    # Listing every stack: DescribeStacks without a stack name is authorised on `*`.
    "cloudformation:DescribeStacks",
    # The account's CloudFormation limits (ConcurrentResourcesLimit): DescribeAccountLimits
    # has no resource type.
    "cloudformation:DescribeAccountLimits",
    # Organizations' list calls used for OU targets.
    "organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent",
    # Listing the secrets to reconcile: ListSecrets has no resource type ("Actions,
    # resources, and condition keys for AWS Secrets Manager", Service Authorization
    # Reference: no resource-level permissions, Resource must be "*").
    "secretsmanager:ListSecrets",
    # Waking a step: task tokens of service-integration tasks cannot be scoped by IAM
    # (SendTaskSuccess's only resource type is an activity; Service Authorization Reference,
    # "Actions, resources, and condition keys for AWS Step Functions").
    "states:SendTaskSuccess",
    # X-Ray tracing (SAM's Tracing: Active).
    "xray:PutTraceSegments", "xray:PutTelemetryRecords",
}


# Actions whose resources live in another service's namespace.
CROSS_SERVICE = {("sts", "iam")}  # sts:AssumeRole is authorised on the role's iam ARN


class Concrete(Evaluator):
    """Resolves Sub, GetAtt and Ref of resources to the names a deploy of stack
    `rotatetoken` in 123456789012/us-east-1 would give them."""

    def __init__(self, template: dict, params: dict[str, Any]):
        super().__init__(template, params)
        self.resources = template.get("Resources", {})

    def name_of(self, logical: str, attribute: str | None = None) -> str:
        kind = self.resources.get(logical, {}).get("Type", "")
        name = f"{STACK}-{logical}"
        if kind in ("AWS::S3::Bucket",):
            return f"arn:aws:s3:::{name.lower()}" if attribute == "Arn" else name.lower()
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"
        if kind == "AWS::Serverless::StateMachine":
            return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-rotatetoken"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}" if attribute == "Arn" else f"https://sqs/{name}"
        if kind == "AWS::Events::EventBus":
            return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}" if attribute == "Arn" else name
        if kind == "AWS::Serverless::Function":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}" if attribute == "Arn" else name
        if kind == "AWS::KMS::Key":
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{name}"
        sam_rule = not kind and logical.startswith("TriggerFunction") and not logical.endswith("Role")
        if kind == "AWS::Events::Rule" or sam_rule:  # SAM names an event's rule <Function><Event>
            return f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}" if attribute == "Arn" else name
        if kind == "AWS::Logs::LogGroup":
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"
        if logical.endswith("Role"):  # SAM's implicit <Function>Role
            return f"arn:aws:iam::{ACCOUNT}:role/{name}"
        return name

    def pseudo(self, name: str) -> Any:
        return {
            "AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK, "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def value(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref" and arg != "AWS::NoValue":
                if arg in self.params:
                    return self.params[arg]
                return self.pseudo(arg) or self.name_of(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.name_of(logical, attribute)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.value(arg[1]))

                def fill(m: re.Match) -> str:
                    ref = m.group(1)
                    if ref in extra:
                        return str(extra[ref])
                    if "." in ref:
                        logical, attribute = ref.split(".", 1)
                        return self.name_of(logical, attribute)
                    v = self.value({"Ref": ref})
                    return ",".join(v) if isinstance(v, list) else str(v)

                return re.sub(r"\$\{([^}!]+)\}", fill, text)
            if key == "Fn::Split":
                sep, text = arg[0], self.value(arg[1])
                return str(text).split(sep) if isinstance(text, str) and not text.startswith("<") else f"<{key}>"
        return super().value(node)


def as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


# --- 1. resources ---------------------------------------------------------------------------

def role_statements(template: dict, ev: Concrete, role: dict, rev: Concrete) -> dict[str, list]:
    """Allow statements of every role: each function's, the state machine's, the target role."""
    out: dict[str, list] = {}
    for logical, res in template["Resources"].items():
        if res["Type"] not in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            continue
        statements = []
        for policy in ev.value(res["Properties"].get("Policies", [])):
            if isinstance(policy, dict) and "Statement" in policy:
                statements += as_list(policy["Statement"])
        out[logical] = statements
    for logical, res in role["Resources"].items():
        if res["Type"] == "AWS::IAM::Role":
            statements = []
            for policy in rev.value(res["Properties"].get("Policies", [])):
                statements += as_list(policy["PolicyDocument"]["Statement"])
            out[f"target-role.yaml {logical}"] = statements
    return out


def resource_problems(statements_by_role: dict[str, list]) -> list[str]:
    problems = []
    for who, statements in statements_by_role.items():
        for st in statements:
            if not isinstance(st, dict) or st.get("Effect") != "Allow":
                continue
            actions = as_list(st.get("Action", []))
            sid = st.get("Sid", "<no Sid>")
            for resource in as_list(st.get("Resource", [])):
                resource = str(resource)
                whole = resource == "*" or re.fullmatch(r"arn:aws:[a-z0-9-]+:[^:]*:[^:]*:\*", resource) \
                    or re.fullmatch(r"arn:aws:s3:::\*", resource)
                wide = [a for a in actions if a not in NO_RESOURCE_ACTIONS]
                if whole and wide:
                    problems.append(f"{who} {sid}: {', '.join(wide)} on {resource}, wider than the "
                                    "resources the code uses")
                if resource != "*" and resource.startswith("arn:"):
                    service = resource.split(":")[2]
                    for a in actions:
                        if a.split(":")[0] != service and (a.split(":")[0], service) not in CROSS_SERVICE:
                            problems.append(f"{who} {sid}: {a} on {resource}, a resource of another service")
    return problems


# --- 2. conditions ---------------------------------------------------------------------------

def condition_holds(conditions: dict, ctx: dict[str, Any]) -> bool:
    for op, pairs in (conditions or {}).items():
        for key, expected in pairs.items():
            expected = [str(e).lower() if op == "Bool" else str(e) for e in as_list(expected)]
            present = key in ctx
            actual = [str(a) for a in as_list(ctx.get(key, []))]
            if op == "Bool":
                actual = [a.lower() for a in actual]
            if op.startswith(("ForAnyValue:", "ForAllValues:")):
                # Some (ForAnyValue; none: fails) or every (ForAllValues; none: holds) value
                # of the request's key satisfies the operator; a negated one means "equal
                # to none of the listed".
                quantifier, base = op.split(":", 1)
                positive = base.replace("Not", "")
                each = (any(_compare(positive, e, a) for e in expected) != ("Not" in base) for a in actual)
                if not (any(each) if quantifier == "ForAnyValue" else all(each)):
                    return False
                continue
            negated = "Not" in op
            if not present:
                if op == "Null":
                    if expected != ["true"]:
                        return False
                    continue
                if negated:
                    continue
                return False
            if op == "Null":
                if expected != ["false"]:
                    return False
                continue
            base = op.replace("Not", "")
            hit = any(_compare(base, e, a) for e in expected for a in actual)
            if hit == negated:
                return False
    return True


def _compare(op: str, expected: str, actual: str) -> bool:
    if op in ("StringEquals", "ArnEquals", "Bool"):
        return expected == actual
    if op in ("StringLike", "ArnLike"):
        return wildcard(expected, actual)
    raise SystemExit(f"condition operator {op} is not evaluated here: add it")


def statement_matches(st: dict, request: dict) -> bool:
    principal = st.get("Principal")
    if principal is not None and principal != "*":
        allowed = [str(p) for p in as_list(principal.get("AWS", []))] + \
                  [str(p) for p in as_list(principal.get("Service", []))]
        who = request["principal"]
        account = who.split(":")[4] if who.startswith("arn:") else who
        if not any(p in ("*", who, account, f"arn:aws:iam::{account}:root") for p in allowed):
            return False
    # NotAction: every action but those listed ("IAM JSON policy elements: NotAction").
    if "NotAction" in st:
        if any(wildcard(a, request["action"], case=False) for a in as_list(st["NotAction"])):
            return False
    elif not any(wildcard(a, request["action"], case=False) for a in as_list(st.get("Action", []))):
        return False
    # NotResource: every resource but those listed ("IAM JSON policy elements: NotResource").
    if "NotResource" in st:
        if any(wildcard(str(r), request["resource"]) for r in as_list(st["NotResource"])):
            return False
    elif not any(wildcard(str(r), request["resource"]) for r in as_list(st.get("Resource", "*"))):
        return False
    return condition_holds(st.get("Condition"), request.get("context", {}))


def decide(statements: list, request: dict) -> str:
    matching = [st for st in statements if isinstance(st, dict) and statement_matches(st, request)]
    if any(st.get("Effect") == "Deny" for st in matching):
        return "deny"
    if any(st.get("Effect") == "Allow" for st in matching):
        return "allow"
    return "implicit deny"


def resource_policy(ev: Concrete, template: dict, kind: str, logical: str | None = None) -> list:
    for name, res in template["Resources"].items():
        deployed = ev.condition(res["Condition"]) if "Condition" in res else True
        if res["Type"] == kind and deployed and logical in (None, name):
            props = ev.value(res["Properties"])
            if kind == "AWS::Events::EventBusPolicy":
                return as_list(props["Statement"])
            if kind == "AWS::KMS::Key":
                return as_list(props["KeyPolicy"]["Statement"])
            return as_list(props["PolicyDocument"]["Statement"])
    return []


def condition_problems(template: dict, ev: Concrete, role: dict, rev: Concrete, params: dict) -> list[str]:
    problems = []

    def expect(what: str, statements: list, request: dict, outcome: str) -> None:
        got = decide(statements, request)
        refused = got != "allow"
        if (outcome == "allow") == refused:
            problems.append(f"{what}: expected {outcome}, IAM would {got} ({json.dumps(request)})")

    pipeline_role = ev.name_of("RefreshFunctionRole")
    other = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
    external_id = params.get("TargetExternalId") or params.get("ExternalId")

    # The target roles' trust policies (target-role.yaml), with the external ID: the updater
    # role trusts the refresh role and never the discover role; the reader role the discover
    # role (and listed operators) and never the refresh role.
    discover_role, refresh_role = ev.name_of("DiscoverFunctionRole"), ev.name_of("RefreshFunctionRole")
    for logical, res in role["Resources"].items():
        if res not in pipeline_roles(role):
            continue
        trust = as_list(rev.value(res["Properties"]["AssumeRolePolicyDocument"])["Statement"])
        trusted, never = (discover_role, refresh_role) if logical == "ReaderRole" else (refresh_role, discover_role)
        base = {"action": "sts:AssumeRole", "resource": "*"}
        expect(f"{logical}, assumed by {trusted} with its external ID", trust,
               {**base, "principal": trusted, "context": {"sts:ExternalId": external_id}}, "allow")
        expect(f"{logical}, assumed by {never} with the external ID", trust,
               {**base, "principal": never, "context": {"sts:ExternalId": external_id}}, "refuse")
        expect(f"{logical}, assumed without the external ID", trust,
               {**base, "principal": trusted, "context": {}}, "refuse")
        expect(f"{logical}, assumed with another external ID", trust,
               {**base, "principal": trusted, "context": {"sts:ExternalId": "guess"}}, "refuse")
        expect(f"{logical}, assumed by another role", trust,
               {**base, "principal": other, "context": {"sts:ExternalId": external_id}}, "refuse")

    # The functions that assume the target role: only in the target accounts.
    targets = [a for a in as_list(ev.params.get("TargetAccountIds", [])) if a]
    role_name = ev.params.get("TargetRoleName", "RotateTokenTarget")
    by_role = role_statements(template, ev, role, rev)
    # Discovery assumes only the reader role (IAM, not its code, keeps it from updates),
    # refresh only the updater role.
    reader_name = f"{role_name}Reader"
    for function, own_role, other_role in (("DiscoverFunction", reader_name, role_name),
                                           ("RefreshFunction", role_name, reader_name)):
        if not targets or ev.params.get("TargetOrganizationalUnitIds") not in (None, "", [""]):
            break  # with OUs, any account under them: checked by the OU path condition
        for account, outcome in ((targets[0], "allow"), ("999999999999", "refuse")):
            expect(f"{function} assuming {own_role} in {account}", by_role[function],
                   {"principal": ev.name_of(f"{function}Role"), "action": "sts:AssumeRole",
                    "resource": f"arn:aws:iam::{account}:role/{own_role}",
                    "context": {"aws:ResourceAccount": account}}, outcome)
        expect(f"{function} assuming {other_role} in {targets[0]}", by_role[function],
               {"principal": ev.name_of(f"{function}Role"), "action": "sts:AssumeRole",
                "resource": f"arn:aws:iam::{targets[0]}:role/{other_role}",
                "context": {"aws:ResourceAccount": targets[0]}}, "refuse")
    # With OUs: an account under one of them (aws:ResourceOrgPaths), its own role only.
    ous = [o for o in as_list(ev.params.get("TargetOrganizationalUnitIds", [])) if o]
    for function, own_role, other_role in (("DiscoverFunction", reader_name, role_name),
                                           ("RefreshFunction", role_name, reader_name)):
        for ou in ous[:1]:
            inside = {"aws:ResourceOrgPaths": [f"o-a1b2c3d4e5/r-ab12/{ou}/"]}
            outside = {"aws:ResourceOrgPaths": ["o-a1b2c3d4e5/r-ab12/ou-zz99-99999999/"]}
            for name, context, outcome in ((own_role, inside, "allow"), (other_role, inside, "refuse"),
                                           (own_role, outside, "refuse")):
                expect(f"{function} assuming {name} in an account at {context['aws:ResourceOrgPaths'][0]}",
                       by_role[function],
                       {"principal": ev.name_of(f"{function}Role"), "action": "sts:AssumeRole",
                        "resource": f"arn:aws:iam::444444444444:role/{name}", "context": context}, outcome)

    # Stack updates: only in TargetRegions (this account's stacks: this region when none are
    # given) and, with RequireOptInTag, only stacks tagged rotatetoken:opt-in=true.
    has_targets = bool(targets) or ev.params.get("TargetOrganizationalUnitIds") not in (None, "", [""])
    listed = [r for r in as_list(ev.params.get("TargetRegions", [])) if r]
    opt_in = ev.params.get("RequireOptInTag") == "yes"
    if has_targets:
        updater = by_role["target-role.yaml TargetRole"]
        who, limited_regions = "the target role", listed
        # The reader role may update nothing, even without discovery's session policy.
        reader = by_role["target-role.yaml ReaderRole"]
        for action in ("cloudformation:UpdateStack", "cloudformation:ExecuteChangeSet",
                       "cloudformation:DeleteStack", "cloudformation:CreateStack"):
            expect(f"the reader role: {action}", reader,
                   {"principal": discover_role, "action": action,
                    "resource": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/app/1",
                    "context": {"aws:RequestedRegion": REGION, "aws:ResourceTag/rotatetoken:opt-in": "true"}},
                   "refuse")
    else:
        updater, who, limited_regions = by_role["RefreshFunction"], "the refresh role", listed or [REGION]
    tagged = {"aws:ResourceTag/rotatetoken:opt-in": "true"}
    for action in ("cloudformation:UpdateStack", "cloudformation:CreateChangeSet", "cloudformation:DeleteChangeSet"):
        def request(region: str, tags: dict) -> dict:
            return {"principal": pipeline_role, "action": action,
                    "resource": f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/app/1",
                    "context": {"aws:RequestedRegion": region, **tags}}
        for region in limited_regions or [REGION]:
            expect(f"{who}: {action} on a tagged stack in {region}", updater, request(region, tagged), "allow")
            expect(f"{who}: {action} on an untagged stack in {region}", updater, request(region, {}),
                   "refuse" if opt_in else "allow")
        if limited_regions:
            expect(f"{who}: {action} in a region outside TargetRegions", updater,
                   request("ap-south-2", tagged), "refuse")

    # The guarded-resource policy (GuardedResourcePolicyArn, modelled as an Allow of
    # everything) acts only through CloudFormation (aws:CalledVia), in the role that updates
    # the stacks (the target role; the refresh role without targets): a direct call is
    # refused, the same call inside a stack operation allowed. And the Deny spares every
    # call the role makes itself: each action its own policy allows (and Lambda's logs),
    # called directly, is still allowed.
    guards_here = not has_targets and ev.params.get("GuardedResourcePolicyArn") not in (None, "")
    if has_targets or guards_here:
        guarded = updater + [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
        via = {"aws:CalledVia": ["cloudformation.amazonaws.com"]}
        for action, resource in (("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/x"),
                                 ("ssm:PutParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/x"),
                                 ("cloudformation:CreateStack", f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/x/1"),
                                 ("cloudformation:ExecuteChangeSet", f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/x/1")):
            base = {"principal": pipeline_role, "action": action, "resource": resource}
            expect(f"{who} with the guarded-resource policy: {action} called directly", guarded,
                   {**base, "context": {}}, "refuse")
            expect(f"{who} with the guarded-resource policy: {action} inside a stack operation", guarded,
                   {**base, "context": via}, "allow")
        denies = [st for st in updater if isinstance(st, dict) and st.get("Effect") == "Deny"]
        own = {a for st in updater if isinstance(st, dict) and st.get("Effect") == "Allow"
               for a in as_list(st.get("Action", []))}
        if guards_here:
            own |= {"logs:CreateLogStream", "logs:PutLogEvents"}
        for action in sorted(own):
            if decide(denies, {"principal": pipeline_role, "action": action, "resource": "*", "context": {}}) == "deny":
                problems.append(f"{who}: its own call {action} is denied by its CalledVia Deny")

    # The runs bucket: private to the pipeline's writers, TLS only.
    bucket = resource_policy(ev, template, "AWS::S3::BucketPolicy")
    run_file = ev.name_of("RunsBucket", "Arn") + "/runs/x/selected.json"
    tls = {"aws:SecureTransport": "true"}
    for writer in ("TriggerFunctionRole", "DiscoverFunctionRole", "RefreshFunctionRole", "ReportFunctionRole",
                   "RotationStateMachineRole"):
        expect(f"the runs bucket, written by {writer}", bucket + [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}],
               {"principal": ev.name_of(writer), "action": "s3:PutObject", "resource": run_file,
                "context": {**tls, "aws:PrincipalArn": ev.name_of(writer)}}, "allow")
    # Every object request a role's own policy grants in the runs bucket, the bucket's
    # policy must allow too: its deny names the pipeline's writers, and a role left out of
    # it is refused on AWS whatever its own policy says (the local AWS enforces neither, so
    # only this review can see it).
    bucket_arn = ev.name_of("RunsBucket", "Arn")
    for logical, statements in by_role.items():
        if logical.startswith("target-role.yaml"):
            continue
        role_arn = ev.name_of(f"{logical}Role")
        for st in statements:
            if not isinstance(st, dict) or st.get("Effect") != "Allow":
                continue
            for action in as_list(st.get("Action", [])):
                if action not in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
                    continue
                for resource in as_list(st.get("Resource", [])):
                    if not (isinstance(resource, str) and resource.startswith(bucket_arn + "/")):
                        continue
                    expect(f"the runs bucket, {action} of {resource[len(bucket_arn) + 1:]} by {logical} "
                           "(its own policy grants it)",
                           bucket + [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}],
                           {"principal": role_arn, "action": action, "resource": resource.replace("*", "x"),
                            "context": {**tls, "aws:PrincipalArn": role_arn}}, "allow")
    expect("the runs bucket, written by another principal of the account", bucket,
           {"principal": other, "action": "s3:PutObject", "resource": run_file,
            "context": {**tls, "aws:PrincipalArn": other}}, "refuse")
    # An operator's stop marker (rotate-token stop): only the roles OperatorRoleArns names
    # (none: no one) may write it, whatever their own policy allows; it leaves consumers on
    # the old value. Nothing else of theirs.
    stop_marker = ev.name_of("RunsBucket", "Arn") + "/runs/x/stop.json"
    everything = bucket + [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]
    operators = [o for o in as_list(ev.params.get("OperatorRoleArns", [])) if o]
    for who_stops in operators[:1]:
        operator = who_stops.replace("*", "x")
        expect("the runs bucket, a stop marker written by a listed operator", everything,
               {"principal": operator, "action": "s3:PutObject", "resource": stop_marker,
                "context": {**tls, "aws:PrincipalArn": operator}}, "allow")
        expect("the runs bucket, another file written by a listed operator", everything,
               {"principal": operator, "action": "s3:PutObject", "resource": run_file,
                "context": {**tls, "aws:PrincipalArn": operator}}, "refuse")
    for writer in (other, pipeline_role):
        expect(f"the runs bucket, a stop marker written by {writer} (not a listed operator)", everything,
               {"principal": writer, "action": "s3:PutObject", "resource": stop_marker,
                "context": {**tls, "aws:PrincipalArn": writer}}, "refuse")
    # Deletes: the pipeline's alone (a deleted lock or lane would let a second run in).
    for key in ("locks/x.json", "lanes/x.json", "runs/x/selected.json", "runs/x/stop.json"):
        expect(f"the runs bucket, {key} deleted by another principal", everything,
               {"principal": other, "action": "s3:DeleteObject", "resource": f"{bucket_arn}/{key}",
                "context": {**tls, "aws:PrincipalArn": other}}, "refuse")
    if decide(bucket, {"principal": other, "action": "s3:PutObject", "resource": run_file,
                       "context": {**tls, "aws:PrincipalArn": other}}) != "deny":
        problems.append("the runs bucket: another principal's PutObject is not explicitly denied "
                        "(an identity policy of this account could allow it)")
    for request in ({"action": "s3:GetObject", "resource": run_file},
                    {"action": "s3:PutObject", "resource": run_file}):
        if decide(bucket, {**request, "principal": pipeline_role,
                           "context": {"aws:SecureTransport": "false", "aws:PrincipalArn": pipeline_role}}) != "deny":
            problems.append(f"the runs bucket: {request['action']} without TLS is not denied")

    # The trigger's failure queue: undeliverable events from this stack's rules only, not
    # from another stack's whose name begins with this one's.
    queue = resource_policy(ev, template, "AWS::SQS::QueuePolicy")
    queue_arn = ev.name_of("TriggerFailuresQueue", "Arn")
    own_rules = ["TriggerFunctionSecretValueChanged", "TriggerFunctionRunEnded"]
    if ev.params.get("SourceAccountIds") not in (None, "", [""]):
        own_rules.append("ForwardedSecretEventsRule")
    for rule in own_rules:
        expect(f"the failure queue, from this stack's rule {rule}", queue,
               {"principal": "events.amazonaws.com", "action": "sqs:SendMessage", "resource": queue_arn,
                "context": {"aws:SourceArn": ev.name_of(rule, "Arn")}}, "allow")
    expect("the failure queue, from another stack's rule named like this one's", queue,
           {"principal": "events.amazonaws.com", "action": "sqs:SendMessage", "resource": queue_arn,
            "context": {"aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{STACK}-other-Rule"}}, "refuse")

    # The alerts topic: CloudWatch alarms of this account, TLS only.
    topic = resource_policy(ev, template, "AWS::SNS::TopicPolicy")
    topic_arn = ev.name_of("AlertsTopic")
    alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:x"
    expect("the alerts topic, published by this account's alarm", topic,
           {"principal": "cloudwatch.amazonaws.com", "action": "sns:Publish", "resource": topic_arn,
            "context": {"aws:SourceArn": alarm, **tls}}, "allow")
    expect("the alerts topic, published by another account's alarm", topic,
           {"principal": "cloudwatch.amazonaws.com", "action": "sns:Publish", "resource": topic_arn,
            "context": {"aws:SourceArn": alarm.replace(ACCOUNT, "999999999999"), **tls}}, "refuse")
    if decide(topic, {"principal": pipeline_role, "action": "sns:Publish", "resource": topic_arn,
                      "context": {"aws:SecureTransport": "false"}}) != "deny":
        problems.append("the alerts topic: a publish without TLS is not denied")

    # The alerts key: CloudWatch alarms of this account may use it (to publish), others not.
    key = [st for st in resource_policy(ev, template, "AWS::KMS::Key") if st.get("Sid") != "TheAccountAdministersTheKey"]
    key_arn = ev.name_of("AlertsKey")
    for source, outcome in ((ACCOUNT, "allow"), ("999999999999", "refuse")):
        expect(f"the alerts key, used by an alarm of account {source}", key,
               {"principal": "cloudwatch.amazonaws.com", "action": "kms:GenerateDataKey", "resource": key_arn,
                "context": {"aws:SourceAccount": source,
                            "aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{source}:alarm:x"}}, outcome)

    # The forwarded-events bus: listed accounts, Secrets Manager events only.
    bus = resource_policy(ev, template, "AWS::Events::EventBusPolicy", "ForwardedEventsBusPolicy")
    sources = [s for s in as_list(ev.params.get("SourceAccountIds", [])) if s]
    if sources:
        bus_arn = ev.name_of("ForwardedEventsBus", "Arn")
        ok = {"events:source": ["aws.secretsmanager"], "events:detail-type": "AWS API Call via CloudTrail"}
        base = {"action": "events:PutEvents", "resource": bus_arn}
        expect("the forwarded bus, a Secrets Manager event from a listed account", bus,
               {**base, "principal": f"arn:aws:iam::{sources[0]}:root", "context": ok}, "allow")
        expect("the forwarded bus, from an account not listed", bus,
               {**base, "principal": "arn:aws:iam::999999999999:root", "context": ok}, "refuse")
        expect("the forwarded bus, another service's events", bus,
               {**base, "principal": f"arn:aws:iam::{sources[0]}:root",
                "context": {**ok, "events:source": ["aws.secretsmanager", "aws.ec2"]}}, "refuse")
        expect("the forwarded bus, another detail-type", bus,
               {**base, "principal": f"arn:aws:iam::{sources[0]}:root",
                "context": {**ok, "events:detail-type": "EC2 Instance State-change Notification"}}, "refuse")

    # The default bus, to the target accounts: their stacks' ends only (the waits of a run).
    ends = resource_policy(ev, template, "AWS::Events::EventBusPolicy", "StackEndsFromTargetAccounts")
    if targets:
        default_bus = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
        ok = {"events:source": ["aws.cloudformation"], "events:detail-type": "CloudFormation Stack Status Change"}
        base = {"action": "events:PutEvents", "resource": default_bus}
        expect("the default bus, a stack's end from a target account", ends,
               {**base, "principal": f"arn:aws:iam::{targets[0]}:root", "context": ok}, "allow")
        expect("the default bus, from an account that is no target", ends,
               {**base, "principal": "arn:aws:iam::999999999999:root", "context": ok}, "refuse")
        expect("the default bus, a target's Secrets Manager event", ends,
               {**base, "principal": f"arn:aws:iam::{targets[0]}:root",
                "context": {"events:source": ["aws.secretsmanager"], "events:detail-type": "AWS API Call via CloudTrail"}},
               "refuse")
        expect("the default bus, another CloudFormation detail-type", ends,
               {**base, "principal": f"arn:aws:iam::{targets[0]}:root",
                "context": {**ok, "events:detail-type": "CloudFormation Resource Status Change"}}, "refuse")
    elif ends:
        problems.append("the default bus admits other accounts though there are no target accounts")
    return problems


def review(template_path: str, role_path: str, params: dict[str, Any]) -> list[str]:
    template, errors = decode(template_path)
    if errors:
        raise SystemExit(f"{template_path}: {errors}")
    role, errors = decode(role_path)
    if errors:
        raise SystemExit(f"{role_path}: {errors}")
    ev, rev = Concrete(template, params), Concrete(role, params)
    # As deployed: the pipeline's UpdaterRoleArns and ReaderRoleArns outputs, read from
    # template.yaml's Outputs (swapping them there would be a finding, not a pass).
    for param in ("UpdaterRoleArns", "ReaderRoleArns"):
        if not rev.params.get(param) or rev.params.get(param) == [""]:
            rev.params[param] = as_list(ev.value(template["Outputs"][param]["Value"]))
    if "ExternalId" in rev.params and not rev.params["ExternalId"]:
        rev.params["ExternalId"] = params.get("TargetExternalId", "")
    return resource_problems(role_statements(template, ev, role, rev)) + \
        condition_problems(template, ev, role, rev, params)


if __name__ == "__main__":
    print(json.dumps(review(sys.argv[1], sys.argv[2], json.loads(sys.argv[3] if len(sys.argv) > 3 else "{}")), indent=1))
