"""Benchmark: what gets deployed. A clean arm64 release build of the four functions, as
`sam build` makes it (template.yaml: `BuildMethod: rust-cargolambda`, `Architectures:
[arm64]`; SAM runs `cargo lambda build --release --arm64` per function), into a target
directory of its own, timed; then each `bootstrap` and its zip (what Lambda receives).

Needs the aarch64-unknown-linux-gnu standard library (`rustup target add`, done by
`make bench`) and zig for linking (the `ziglang` wheel in tests/requirements.txt).

Usage: python bench/artefacts.py [--keep]   (--keep: reuse an earlier build, not timed)
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from local_aws import ROOT  # noqa: E402

FUNCTIONS = ["rotatetoken-trigger", "rotatetoken-discover", "rotatetoken-refresh", "rotatetoken-report"]
TARGET = os.path.join(ROOT, "target", "bench-arm64")
LIMIT_MIB = 4.0  # the project's target for each zip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if not args.keep:
        shutil.rmtree(TARGET, ignore_errors=True)
    cargo_lambda = os.path.join(os.path.dirname(sys.executable), "cargo-lambda")
    command = [cargo_lambda, "lambda", "build", "--release", "--arm64", "--locked", "--output-format", "zip",
               "--lambda-dir", os.path.join(TARGET, "lambda")]
    for name in FUNCTIONS:
        command += ["--bin", name]
    env = {**os.environ, "CARGO_TARGET_DIR": TARGET}
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=sys.stderr)
    build_seconds = time.perf_counter() - started
    results = {}
    for name in FUNCTIONS:
        zip_path = os.path.join(TARGET, "lambda", name, "bootstrap.zip")
        with zipfile.ZipFile(zip_path) as z:
            info = z.getinfo("bootstrap")
            header = z.open(info).read(20)
        # ELF e_machine 183 is AArch64: the zip holds what arm64 Lambda runs.
        if header[:4] != b"\x7fELF" or int.from_bytes(header[18:20], "little") != 183:
            raise SystemExit(f"{zip_path}: bootstrap is not an aarch64 ELF binary")
        unzipped = info.file_size
        results[name] = {
            "bootstrap_mib": round(unzipped / 2**20, 2),
            "zip_mib": round(os.path.getsize(zip_path) / 2**20, 2),
        }
    print(json.dumps({
        "architecture": "arm64 (aarch64-unknown-linux-gnu, provided.al2023)",
        "clean_release_build_seconds": None if args.keep else round(build_seconds, 1),
        "cores": os.cpu_count(),
        "zip_limit_mib": LIMIT_MIB,
        "functions": results,
        "all_under_limit": all(r["zip_mib"] < LIMIT_MIB for r in results.values()),
    }, indent=2))


if __name__ == "__main__":
    main()
