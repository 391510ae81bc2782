"""Turns the figures `make bench` wrote (bench/*.json) into one Markdown table, with the
date and the machine, into bench/RESULTS.md and between the bench markers of each file given
(the README and docs/performance.md).
Every target is checked here: the table says "met" or by how much it was missed, and the
exit status is 1 when any target is missed.

Usage: python bench/table.py [--into README.md docs/performance.md]
"""

import argparse
import datetime
import json
import os
import platform
import re

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN, END = "<!-- bench:begin (make bench writes this table) -->", "<!-- bench:end -->"


def load(name: str) -> dict:
    with open(os.path.join(HERE, name)) as f:
        return json.load(f)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()}, {os.cpu_count()} cores, {model}"


class Table:
    def __init__(self) -> None:
        self.rows: list[str] = []
        self.missed: list[str] = []

    def add(self, what: str, measured: str, target: str = "", met: bool | None = None, by: str = "") -> None:
        verdict = "" if met is None else ("met" if met else f"**missed** {by}".strip())
        if met is False:
            self.missed.append(f"{what}: {measured} (target {target})")
        self.rows.append(f"| {what} | {measured} | {target} | {verdict} |")


def build() -> Table:
    t = Table()
    art = load("artefacts.json")
    for name, f in art["functions"].items():
        t.add(f"arm64 zip, {name}", f"{f['zip_mib']} MiB (bootstrap {f['bootstrap_mib']} MiB)", "< 4 MiB",
              f["zip_mib"] < 4, f"by {f['zip_mib'] - 4:.2f} MiB")
    if art.get("clean_release_build_seconds"):
        t.add("clean arm64 release build, 4 functions", f"{art['clean_release_build_seconds']} s on {art['cores']} cores")

    start = load("handler_startup.json")["results"]
    for key, r in start.items():
        name, variant = key.split(" (", 1)
        variant = variant.rstrip(")")
        if variant == "host":
            t.add(f"ready (cold start to first /next), {name}", f"{r['ready_ms_median']} ms median, {r['ready_ms_p95']} ms p95",
                  "< 10 ms median", r["ready_ms_median"] < 10, f"by {r['ready_ms_median'] - 10:.2f} ms")
            peak = max(r["peak_rss_mib_ready"], r["peak_rss_mib_after_invoke"] or 0)
            t.add(f"peak RSS, {name}", f"{peak} MiB", "< 16 MiB", peak < 16, f"by {peak - 16:.1f} MiB")
        elif variant == "sdk_default_loader":
            t.add(f"ready with SSL_CERT_FILE and SSL_CERT_DIR set (the SDK's own loader), {name}",
                  f"{r['ready_ms_median']} ms median, {r['ready_ms_p95']} ms p95", "< 10 ms median",
                  r["ready_ms_median"] < 10, f"by {r['ready_ms_median'] - 10:.2f} ms")
        else:
            t.add(f"first response with a call to AWS, {name}",
                  f"{r['first_response_ms_median']} ms median, {r['first_response_ms_p95']} ms p95; peak RSS {r['peak_rss_mib_after_invoke']} MiB",
                  "< 16 MiB", r["peak_rss_mib_after_invoke"] < 16, f"by {r['peak_rss_mib_after_invoke'] - 16:.1f} MiB")

    for name in ("refresh-100.json", "refresh-1000.json"):
        if not os.path.exists(os.path.join(HERE, name)):
            continue
        r = load(name)
        o, c = r["overhead"], r["cost"]
        n = f"{r['stacks']} stacks, {r['accounts']} account(s)"
        over = o["overhead_percent_for_these_updates"]
        t.add(f"refresh run, {n}, updates of {o['update_seconds']:g} ± {o['update_jitter_seconds']:g} s, {o['concurrency']} at once: wall time against the ideal",
              f"{r['run_seconds']} s against {o['ideal_for_these_updates_seconds']:g} s for these updates: +{over}% "
              f"(against ceil(N/{o['concurrency']}) × 2 × {o['update_seconds']:g} s = {o['ideal_seconds']:g} s: +{o['overhead_percent']}%); "
              f"start to first update {o['start_to_first_update_seconds']} s, last update to end {o['last_update_to_end_seconds']} s",
              "< 10% over ideal", over < 10, f"by {over - 10:.1f} points")
        t.add(f"update ended → next phase accepted, {n}",
              f"{o['phase_gap_seconds']['median']} s median, {o['phase_gap_seconds']['p95']} s p95 ({o['phase_gap_seconds']['count']} gaps)")
        t.add(f"last update ended → refresh saw it finished, {n}",
              f"{o['finish_seen_seconds']['median']} s median, {o['finish_seen_seconds']['p95']} s p95")
        calls = r.get("aws_calls_per_stack", {})
        t.add(f"CloudFormation calls per stack, {n}",
              ", ".join(f"{k.split(':', 1)[1]} {v:g}" for k, v in calls.items() if k.startswith("rotatetoken-refresh cloudformation:")))
        t.add(f"state transitions per stack, {n}",
              f"{c['state_transitions_per_stack']} (children: {c['child_state_transitions_measured']} measured, {c['child_state_transitions_from_rows']} from the rows)",
              "≤ 12", c["state_transitions_per_stack"] <= 12, f"by {c['state_transitions_per_stack'] - 12:.2f}")
        naive = c["naive_wait_loop"]
        t.add(f"cost per 1,000 stacks, {n}",
              f"${c['usd_per_1000_stacks']} ({c['lambda_invocations_per_stack']} invocations, {c['lambda_gb_seconds_per_stack']} GB-s per stack); "
              f"naive {naive['poll_seconds']:g} s Wait loop: ${naive['usd_per_1000_stacks']} ({naive['state_transitions_per_stack']:g} transitions per stack)",
              f"list prices of {c['prices']['date']}")
        rss = ", ".join(f"{k.removeprefix('rotatetoken-')} {v}" for k, v in r["peak_rss_mib"].items())
        t.add(f"scale, {n} refreshed for real",
              f"{r['status']}; largest state {r['largest_state_input_bytes'] / 1024:.1f} KiB; parent history {r['parent_history_events']} events; "
              f"child history {r['child_history']['events_mean']} events mean, largest {r['child_history']['largest_state_transitions']} transitions; "
              f"peak RSS MiB ({r['functions_profile']}): {rss}",
              "256 KiB, 25,000 events", r["largest_state_input_bytes"] < 262_144 and r["parent_history_events"] < 25_000)

    for name in ("discovery_cpu-1300.json", "discovery_cpu-10000.json"):
        if not os.path.exists(os.path.join(HERE, name)):
            continue
        d = load(name)
        t.add(f"discovery CPU, {d['stacks']} stacks ({d['selected']} consumers)",
              f"Rust {d['rust_cpu_s_per_discovery']} s, Python/boto3 {d['python_boto3_cpu_s_per_discovery']} s: {d['ratio_discovery']}× "
              f"({d['ratio_including_startup']}× with start-up); same selection: {d['same_selection_as_boto3']}",
              "≥ 5× less", d["ratio_discovery"] >= 5, f"by {5 - d['ratio_discovery']:.1f}×")
    return t


def render(t: Table) -> str:
    head = (f"Measured by `make bench` on {datetime.date.today().isoformat()}, {machine()} "
            f"(x86_64 figures except the arm64 artefacts; the emulator stands in for AWS).\n\n"
            "| figure | measured | target | verdict |\n| --- | --- | --- | --- |\n")
    return head + "\n".join(t.rows) + "\n"


def write_between(path: str, begin: str, end: str, text: str) -> None:
    """Replaces what stands between the markers `begin` and `end` of the file with `text`."""
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    page = open(path).read()
    if not pattern.search(page):
        raise SystemExit(f"{path}: no {begin} ... {end} markers")
    open(path, "w").write(pattern.sub(lambda _: f"{begin}\n{text}{end}", page))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--into", nargs="*", default=[])
    args = ap.parse_args()
    t = build()
    text = render(t)
    with open(os.path.join(HERE, "RESULTS.md"), "w") as f:
        f.write("# Benchmark results\n\n" + text)
    for path in args.into:
        write_between(path, BEGIN, END, text)
    print(text)
    if t.missed:
        print("Missed:\n- " + "\n- ".join(t.missed))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
