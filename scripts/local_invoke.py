"""make local-invoke: every function as `sam local invoke` runs it (in the Lambda container,
through SAM's runtime interface emulator), against the local AWS, for every file in events/,
each answer checked; then the real state machine once, its Lambda tasks served by
`sam local start-lambda`. Prints a PASS or FAIL line per event and for the run; exits 1 on
any FAIL.

No Docker engine: says so and exits 0 (`cargo lambda` covers the functions then: make test).
The Lambda base image cannot be pulled (no registry here): a stand-in of the same name is
built from Debian packages (debootstrap: glibc, libgcc, CA certificates) and said so.

The functions run for the host's architecture by default (LOCAL_ARCH=arm64 for the deployed
one; on an x86_64 host that needs qemu-user-static and binfmt_misc): a local-only variant of
template.yaml (`.aws-sam/local/template.yaml`) sets the architecture and declares
AWS_ENDPOINT_URL, which SAM passes from `--env-vars` only when the template declares it.
Release builds here skip LTO (minutes on 2 cores); the deployed build keeps it.

Usage: .venv/bin/python scripts/local_invoke.py           (make local-invoke)
       .venv/bin/python scripts/local_invoke.py --serve   (make local-aws: build, start and
           seed the local AWS, write .aws-sam/local/env.json, print the commands to invoke
           by hand, and serve until Ctrl-C)
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCAL = os.path.join(ROOT, ".aws-sam", "local")
sys.path.insert(0, os.path.join(ROOT, "tests", "emulator"))
from template_facts import facts  # noqa: E402

ACCOUNT, REGION = "123456789012", "us-east-1"
SAMPLE_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-password-AbCdEf"
STATE_MACHINE = "rotatetoken"
RUNS_BUCKET = "rotatetoken-runs"
TOPIC = "rotatetoken-alerts"
FAILURES: list[str] = []
PASSED = [0]

# The consumer the shipped events refresh: reads prod/db-password, guarded by RotateToken.
CONSUMER = """Parameters:
  RotateToken:
    Type: String
    Default: "true"
    AllowedValues: ["true", "false"]
Conditions:
  RotateToken: !Equals [!Ref RotateToken, "true"]
Resources:
  DatabasePassword:
    Type: AWS::SSM::Parameter
    Condition: RotateToken
    Properties:
      Type: String
      Value: "{{resolve:secretsmanager:prod/db-password:SecretString}}"
"""


def say(text: str) -> None:
    print(text, flush=True)


def verdict(ok: bool, what: str, detail: str) -> None:
    say(f"{'PASS' if ok else 'FAIL'} {what}: {detail}")
    if ok:
        PASSED[0] += 1
    else:
        FAILURES.append(what)


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess:
    say("$ " + " ".join(cmd))
    return subprocess.run(cmd, **kw)


def docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def host_arch() -> str:
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]


def can_run(arch: str) -> bool:
    if arch == host_arch():
        return True
    emulator = {"arm64": "qemu-aarch64", "x86_64": "qemu-x86_64"}[arch]
    return os.path.exists(f"/proc/sys/fs/binfmt_misc/{emulator}")


def base_image(arch: str) -> str:
    """SAM's base image for provided.al2023, pulled, or a stand-in built from Debian."""
    image = f"public.ecr.aws/lambda/provided:al2023-{arch}"
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0:
        return image
    try:
        pulled = subprocess.run(["docker", "pull", image], capture_output=True, timeout=90).returncode == 0
    except subprocess.TimeoutExpired:
        pulled = False
    if pulled:
        return image
    if arch != host_arch():
        raise SystemExit(f"cannot pull {image}, and a stand-in is built only for this host's architecture ({host_arch()})")
    if not shutil.which("debootstrap"):
        raise SystemExit(f"cannot pull {image}: install debootstrap (apt-get install debootstrap) to build a stand-in")
    rootfs = os.path.join(LOCAL, f"rootfs-{arch}")
    shutil.rmtree(rootfs, ignore_errors=True)
    deb_arch = {"x86_64": "amd64", "arm64": "arm64"}[arch]
    say(f"STAND-IN: {image} cannot be pulled here; building a stand-in of that name from Debian bookworm "
        "(debootstrap minbase: glibc, libgcc, CA certificates). It is not Amazon Linux 2023.")
    built = run(["debootstrap", "--variant=minbase", f"--arch={deb_arch}", "--include=ca-certificates",
                 "bookworm", rootfs, "http://deb.debian.org/debian"], capture_output=True, text=True)
    if built.returncode != 0:
        raise SystemExit(f"debootstrap failed:\n{built.stdout[-2000:]}{built.stderr[-2000:]}")
    tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(["docker", "import", "--change", f"LABEL rotatetoken.stand-in=debian-bookworm-{deb_arch}",
                               "-", image], stdin=tar.stdout, capture_output=True, text=True)
    tar.wait()
    shutil.rmtree(rootfs, ignore_errors=True)
    if imported.returncode != 0:
        raise SystemExit(f"docker import failed: {imported.stderr}")
    say(f"STAND-IN: built {image}")
    return image


def local_template(arch: str) -> str:
    """template.yaml with this architecture, AWS_ENDPOINT_URL declared, and paths absolute."""
    text = open(os.path.join(ROOT, "template.yaml")).read()
    replacements = [
        ("    Architectures: [arm64]\n", f"    Architectures: [{arch}]\n"),
        ("    CodeUri: .\n", f"    CodeUri: {ROOT}\n"),
        ("      DefinitionUri: statemachine/", f"      DefinitionUri: {ROOT}/statemachine/"),
        ("    LicenseUrl: LICENSE\n", f"    LicenseUrl: {ROOT}/LICENSE\n"),
        ("    ReadmeUrl: README.md\n", f"    ReadmeUrl: {ROOT}/README.md\n"),
        ("    Environment:\n      Variables:\n",
         "    Environment:\n      Variables:\n        # Local only: where the local AWS is (--env-vars).\n        AWS_ENDPOINT_URL: \"\"\n"),
    ]
    for old, new in replacements:
        if old not in text:
            raise SystemExit(f"template.yaml changed: cannot find {old!r} to make the local variant")
        text = text.replace(old, new, 1)
    os.makedirs(LOCAL, exist_ok=True)
    path = os.path.join(LOCAL, "template.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bridge_gateway() -> str:
    """The host as a container on Docker's default bridge reaches it: the bridge's gateway
    (Docker 20.10 lists only the subnet: its first address is the gateway, docker0)."""
    import ipaddress

    out = subprocess.run(["docker", "network", "inspect", "bridge", "-f", "{{json .IPAM.Config}}"],
                         capture_output=True, text=True)
    try:
        config = json.loads(out.stdout)[0]
        return config.get("Gateway") or str(ipaddress.ip_network(config["Subnet"])[1])
    except (ValueError, IndexError, KeyError, TypeError):
        raise SystemExit(f"cannot read the Docker bridge's gateway: {out.stdout}{out.stderr}")


def wait_http(url: str, seconds: float) -> None:
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except Exception:
            if time.time() > deadline:
                raise SystemExit(f"{url} did not answer within {seconds:.0f} s")
            time.sleep(0.3)


def clients(endpoint: str) -> dict[str, Any]:
    import boto3

    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")
    return {name: boto3.client(name, **kw) for name in
            ("secretsmanager", "cloudformation", "s3", "sns", "stepfunctions", "lambda", "iam")}


def seed(aws: dict[str, Any], template_facts: dict) -> None:
    """The AWS the shipped events expect: the secret, one consumer, the runs bucket, the
    alerts topic, and the state machine with its functions named by logical id (so the
    emulator's Lambda bridge asks `sam local start-lambda` for them by that name)."""
    # The very ARN the shipped events name (moto's `_custom_id_` tag fixes the random
    # suffix), so that discovery can describe it (its replica regions) as on AWS.
    aws["secretsmanager"].create_secret(Name="prod/db-password", SecretString="v1",
                                        Tags=[{"Key": "_custom_id_", "Value": SAMPLE_ARN.rsplit("-", 1)[1]}])
    aws["cloudformation"].create_stack(StackName="orders-api", TemplateBody=CONSUMER)
    aws["s3"].create_bucket(Bucket=RUNS_BUCKET)
    aws["sns"].create_topic(Name=TOPIC)
    role = aws["iam"].create_role(RoleName="rotatetoken-local", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    for logical in template_facts["functions"]:
        aws["lambda"].create_function(FunctionName=logical, Runtime="provided.al2023", Handler="bootstrap", Role=role,
                                      Timeout=300, Code={"ZipFile": _empty_zip()})
    (sm,) = template_facts["state_machines"].values()
    with open(os.path.join(ROOT, sm["definition_uri"])) as f:
        text = f.read()
    # Each substitution from what the template says it is (`${Ref:X}`, `${GetAtt:X.Arn}`),
    # filled with what was created above for X: a substitution added to the template that
    # this script does not create fails here by name, not as a KeyError.
    types = template_facts["types"]
    created = {f"${{GetAtt:{logical}.Arn}}": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical}"
               for logical in template_facts["functions"]}
    for logical, kind in types.items():
        if kind == "AWS::S3::Bucket":
            created[f"${{Ref:{logical}}}"] = RUNS_BUCKET
        elif kind == "AWS::SNS::Topic":
            created[f"${{Ref:{logical}}}"] = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}"
    values = {}
    for name, source in sm["substitution_values"].items():
        if source not in created:
            raise SystemExit(f"template.yaml: the state machine's substitution {name} is {source}, "
                             "which scripts/local_invoke.py does not create: add it to seed()")
        values[name] = created[source]
    definition = re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: values[m.group(1)], text)
    aws["stepfunctions"].create_state_machine(name=STATE_MACHINE, definition=definition, roleArn=role)


def _empty_zip() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "")
    return buf.getvalue()


def env_vars(endpoint: str, template_facts: dict) -> str:
    """SAM's --env-vars file: the settings each function reads, pointing at the local AWS."""
    settings = {
        "AWS_ENDPOINT_URL": endpoint,
        "SECRET_NAME_PREFIXES": "*",
        "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE}",
        "RUNS_BUCKET": RUNS_BUCKET,
        "ALERTS_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}",
        "SELECTION_MODE": "referencing",
        "POLL_INTERVAL_SECONDS": "1",
        "STEP_BUDGET_SECONDS": "20",
        # A run waits this long for more changes before it discovers (120 when deployed).
        "COALESCE_WINDOW_SECONDS": "2",
        # The seeded stacks have no service role (as `sam deploy` makes them).
        "STACKS_WITHOUT_SERVICE_ROLE": "*",
    }
    files = {"Parameters": {"AWS_ENDPOINT_URL": endpoint}}
    for logical, f in template_facts["functions"].items():
        files[logical] = {k: v for k, v in settings.items() if k in f["environment"] or k == "AWS_ENDPOINT_URL"}
    path = os.path.join(LOCAL, "env.json")
    with open(path, "w") as f:
        json.dump(files, f, indent=2)
    return path


def invoke(template: str, build_dir: str, env_file: str, function: str, event: str) -> Any:
    out = run(["sam", "local", "invoke", function, "--template", os.path.join(build_dir, "template.yaml"),
               "--event", event, "--env-vars", env_file, "--skip-pull-image"],
              capture_output=True, text=True, timeout=300)
    # `sam local invoke` exits 0 whatever the function did: the answer is its last stdout line.
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"unreadable": out.stdout[-1500:] + out.stderr[-1500:]}


def check_events(template: str, build_dir: str, env_file: str) -> str | None:
    """Each shipped event, with the answer tests/local_invoke.rs expects of cargo lambda."""
    ev = lambda name: os.path.join(ROOT, "events", name)  # noqa: E731
    started = invoke(template, build_dir, env_file, "TriggerFunction", ev("put-secret-value.json"))
    verdict(started.get("decision") == "started" and started.get("secret_arn") == SAMPLE_ARN,
            "TriggerFunction put-secret-value.json", json.dumps(started)[:300])
    for name in ("update-secret.json", "update-secret-version-stage.json", "secret-label-updated.json",
                 "put-secret-value-legacy-arn-key.json"):
        again = invoke(template, build_dir, env_file, "TriggerFunction", ev(name))
        verdict(again.get("decision") == "duplicate" or again.get("execution_arn") == started.get("execution_arn"),
                f"TriggerFunction {name}", json.dumps(again)[:300])
    for name in ("put-secret-value-pending.json", "put-secret-value-failed.json", "update-secret-description-only.json"):
        ignored = invoke(template, build_dir, env_file, "TriggerFunction", ev(name))
        verdict(ignored.get("decision") == "ignored" and len(str(ignored.get("reason", ""))) > 10,
                f"TriggerFunction {name}", json.dumps(ignored)[:300])
    discovered = invoke(template, build_dir, env_file, "DiscoverFunction", ev("discover.json"))
    verdict(discovered.get("dry_run") is True and discovered.get("selected_count") == 1,
            "DiscoverFunction discover.json", json.dumps(discovered)[:300])
    refreshed = invoke(template, build_dir, env_file, "RefreshFunction", ev("refresh.json"))
    # Deployed (RUNS_BUCKET set), the refresh function acts only for a stack a run selected:
    # the sample task names no run and is refused, naming the field (tests/local_invoke.rs).
    verdict("input.execution" in json.dumps(refreshed) and refreshed.get("outcome") is None,
            "RefreshFunction refresh.json", json.dumps(refreshed)[:300])
    summary = invoke(template, build_dir, env_file, "ReportFunction", ev("report.json"))
    counts = summary.get("counts") or {}
    verdict(counts.get("refreshed") == 1 and counts.get("skipped") == 1, "ReportFunction report.json", json.dumps(counts))
    shipped = sorted(f for f in os.listdir(os.path.join(ROOT, "events")) if f.endswith(".json"))
    checked = 11
    verdict(len(shipped) == checked, "every file in events/ checked", f"{len(shipped)} files, {checked} checked")
    return started.get("execution_arn")


def check_state_machine(aws: dict[str, Any], execution_arn: str | None) -> None:
    """The run the trigger started, executed by the emulator's Step Functions with its
    Lambda tasks served by `sam local start-lambda`."""
    if not execution_arn:
        verdict(False, "state machine run", "the trigger started no execution")
        return
    deadline = time.time() + 600
    while True:
        d = aws["stepfunctions"].describe_execution(executionArn=execution_arn)
        if d["status"] != "RUNNING" or time.time() > deadline:
            break
        time.sleep(2)
    output = json.loads(d.get("output") or "{}") if d["status"] == "SUCCEEDED" else {}
    counts = output.get("counts") or {}
    verdict(d["status"] == "SUCCEEDED" and counts.get("refreshed") == 1,
            "state machine run (sam local start-lambda)", f"{d['status']} {json.dumps(counts)} {d.get('cause', '')[:300]}")
    stack = aws["cloudformation"].describe_stacks(StackName="orders-api")["Stacks"][0]
    token = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}.get("RotateToken")
    verdict(token == "true" and stack["StackStatus"] == "UPDATE_COMPLETE", "orders-api after the run",
            f"{stack['StackStatus']} RotateToken={token}")


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # Ctrl-C or a TERM: the emulator and start-lambda are stopped too (finally below). A
    # background job may inherit SIGINT ignored: set it explicitly.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    if not docker_answers():
        say("SKIP make local-invoke: no Docker engine answers `docker info`. With Docker (Debian: "
            "apt-get install docker.io, then dockerd &), it runs every function under `sam local invoke`; "
            "without, `make test` runs them through cargo lambda (tests/local_invoke.rs).")
        return 0
    arch = os.environ.get("LOCAL_ARCH") or host_arch()
    if not can_run(arch):
        say(f"FAIL LOCAL_ARCH={arch} cannot run on this {host_arch()} host: install qemu-user-static and "
            "binfmt-support (and mount binfmt_misc: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc), "
            "or leave LOCAL_ARCH unset to run for this host")
        return 1
    base_image(arch)
    template = local_template(arch)
    build_dir = os.path.join(LOCAL, "build")
    build_env = dict(os.environ, CARGO_PROFILE_RELEASE_LTO="off", CARGO_PROFILE_RELEASE_CODEGEN_UNITS="16",
                     SAM_CLI_TELEMETRY="0")
    if run(["sam", "build", "--template", template, "--build-dir", build_dir], env=build_env).returncode != 0:
        say("FAIL sam build")
        return 1
    template_facts = facts(os.path.join(ROOT, "template.yaml"))
    port = free_port()
    gateway = bridge_gateway()
    lambda_port = free_port()
    emulator = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests", "emulator", "rotatetoken_emulator.py"), "--host", "0.0.0.0",
         "--port", str(port), "--lambda-bridge", f"http://127.0.0.1:{lambda_port}"],
        stdout=open(os.path.join(LOCAL, "emulator.log"), "w"), stderr=subprocess.STDOUT)
    creds = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION=REGION,
                 AWS_REGION=REGION, SAM_CLI_TELEMETRY="0")
    start_lambda = None
    try:
        wait_http(f"http://127.0.0.1:{port}/moto-api/", 60)
        aws = clients(f"http://127.0.0.1:{port}")
        seed(aws, template_facts)
        endpoint = f"http://{gateway}:{port}"
        say(f"local AWS: {endpoint} (the Docker bridge's gateway, as a container reaches this host)")
        env_file = env_vars(endpoint, template_facts)
        start_lambda = subprocess.Popen(
            ["sam", "local", "start-lambda", "--template", os.path.join(build_dir, "template.yaml"), "--port", str(lambda_port),
             "--env-vars", env_file, "--skip-pull-image"],
            stdout=open(os.path.join(LOCAL, "start-lambda.log"), "w"), stderr=subprocess.STDOUT, env=creds,
            start_new_session=True)
        wait_http(f"http://127.0.0.1:{lambda_port}/", 120)
        os.environ.update({k: creds[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION")})
        if "--serve" in sys.argv:
            rel = os.path.relpath(build_dir, ROOT)
            say("\nThe local AWS is up. In another shell, from the repository (any file in events/):\n"
                f"  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION={REGION} \\\n"
                f"  .venv/bin/sam local invoke TriggerFunction --template {rel}/template.yaml \\\n"
                "    --event events/put-secret-value.json --env-vars .aws-sam/local/env.json --skip-pull-image\n"
                f"The state machine's Lambda tasks are served by sam local start-lambda on :{lambda_port}. Ctrl-C stops all.")
            try:
                while emulator.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
            return 0
        execution_arn = check_events(template, build_dir, env_file)
        check_state_machine(aws, execution_arn)
    finally:
        if start_lambda is not None:
            os.killpg(start_lambda.pid, signal.SIGTERM)
        emulator.kill()
    say(f"local-invoke: {PASSED[0]} passed, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
