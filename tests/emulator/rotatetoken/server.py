"""Serving: one emulator on a port (serve), many by fork from one that has already
imported moto and installed the patches (fork_server), and the command line (main)."""

from __future__ import annotations

import argparse
import json
import os

from . import state
from .install import install


def serve(host: str, port: int, instance: str, bridge: str) -> None:
    """One emulator on `port` (install() done): serves until killed."""
    state.CONTROL["instance"] = instance
    state.LAMBDA_BRIDGE = bridge.rstrip("/")
    os.environ["MOTO_PORT"] = str(port)  # moto's Step Functions calls back into itself
    cache_moto_modules()
    from moto import server

    server.main(["-H", host, "-p", str(port)])


def cache_moto_modules() -> None:
    """Speed only, no AWS behaviour (so not a numbered patch): moto finds a request's
    backend by listing its own package directory, with a stat of each entry, on every
    request (`backends.list_of_moto_modules`, called by the dispatcher's
    `get_backend_for_host`): a fifth of the emulator's busy samples in a 260-stack
    incident run (py-spy, 2026-12-04). The directory does not change while it serves."""
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def cache_interpreter_parsers() -> None:
    """Speed only, no AWS behaviour (so not a numbered patch): moto's Step Functions
    interpreter builds a new JSONPath parser (its LALR tables included) for every path it
    evaluates (`json_path.extract_json`), and a new boto3 client, with its service model,
    for every Lambda task it runs (`boto_client_for`): together a third of the emulator's
    CPU in a 1,300-stack incident run (py-spy --gil, 2026-12-04), which made the local AWS,
    not the pipeline, the run's bottleneck. A parsed path is immutable and a botocore client
    is safe to share between threads ("Low-level clients are thread safe", boto3 user guide,
    Multithreading), so each is built once per distinct path, or region and service. The
    client is moto's own (`boto_client_for`: same credentials, endpoint, time-outs, no
    retries), with a connection pool sized for the hundreds of tasks in flight."""
    import functools
    import sys

    import boto3
    from botocore.config import Config
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import resource_eval_s3  # noqa: F401
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils  # noqa: F401
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_factory  # noqa: F401
    from moto.stepfunctions.parser.asl.utils import boto_client, json_path

    json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)

    original = boto_client.boto_client_for

    @functools.lru_cache(maxsize=256)
    def client(region: str, service: str, endpoint: str | None) -> object:
        kwargs = {} if endpoint is None else {"endpoint_url": endpoint}
        return boto3.client(
            aws_access_key_id="ak",
            region_name=region,
            service_name=service,
            aws_secret_access_key="sk",
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=boto_client.TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                read_timeout=boto_client.TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                max_pool_connections=512,
            ),
            **kwargs,
        )

    def boto_client_for(region: str, service: str, state_credentials: object = None) -> object:
        # moto's own ignores `state_credentials` too (FIELD-NOTES: Task Credentials are ignored).
        # The endpoint is read on each call, as moto does (the port is set when serving).
        endpoint = None if boto_client.botocore_stubber.enabled else f"http://localhost:{boto_client.moto_server_port()}"
        return client(region, service, endpoint)

    boto_client.boto_client_for = boto_client_for
    # The interpreter's modules imported the function by name: rebind it in each.
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("moto.stepfunctions.parser") and getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for


def fork_server(path: str, idle_seconds: float) -> None:
    """Starts emulators by fork, each already past the imports and the patches (about 3 s
    of CPU per start otherwise, most of a test suite's time; ../shared/FIELD-NOTES.md).

    Listens on the unix socket `path`. A request is one JSON line {"port", "instance",
    "bridge", "log", "host"}; the answer one JSON line {"pid"}. Each emulator is a forked
    child in a session of its own (its caller kills it by pid), with stdout and stderr in
    `log`. Children are reaped by the kernel. Exits after `idle_seconds` without a request.
    The harness names the socket after a hash of tests/emulator's sources (this package's
    included), so a changed emulator (say, by break-on-purpose) gets a server of its own."""
    import signal
    import socket

    from moto import server  # noqa: F401  (imported once, here, for every child)

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(idle_seconds)
    while True:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            break
        conn.settimeout(10)
        try:
            request = json.loads(conn.makefile().readline())
        except (OSError, ValueError):
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            try:
                listener.close()
                conn.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(log, 1)
                os.dup2(log, 2)
                serve(request.get("host", "127.0.0.1"), int(request["port"]), request["instance"], request.get("bridge", ""))
            finally:
                os._exit(1)
        try:
            conn.sendall((json.dumps({"pid": pid}) + "\n").encode())
        finally:
            conn.close()
    # The socket file stays: a client that finds nobody listening starts a new server.


def main(argv: list[str] | None = None) -> None:
    from . import __doc__ as package_doc
    from .registry import render

    parser = argparse.ArgumentParser(description=(package_doc or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--lambda-bridge", default=state.LAMBDA_BRIDGE, help="the local Lambda's Invoke API URL")
    parser.add_argument("--instance", default="", help="answered in config: tells two emulators apart")
    parser.add_argument("--fork-server", metavar="SOCKET", help="start emulators by fork on request (fork_server)")
    parser.add_argument("--idle-seconds", type=float, default=300.0)
    parser.add_argument("--list-patches", action="store_true", help="print the numbered patches (the registry) and exit")
    args = parser.parse_args(argv)
    if args.list_patches:
        print(render(), end="")
        return
    install()
    cache_interpreter_parsers()  # before any fork: each child inherits it, its caches empty
    if args.fork_server:
        fork_server(args.fork_server, args.idle_seconds)
        return
    if args.port is None:
        parser.error("--port is required")
    serve(args.host, args.port, args.instance, args.lambda_bridge)
