"""The emulator for the benchmarks: started on a free port, stopped on exit. The same
emulator the test suites use (tests/emulator/rotatetoken_emulator.py)."""

import os
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_emulator() -> tuple[subprocess.Popen, str]:
    """Starts the emulator and waits until it answers; returns the process and endpoint."""
    port = free_port()
    emulator = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests/emulator/rotatetoken_emulator.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/rotatetoken/config")
            return emulator, endpoint
        except Exception:
            time.sleep(0.1)
    emulator.kill()
    raise SystemExit("the emulator did not start")
