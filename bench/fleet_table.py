"""Turns bench/fleet-<stacks>.json (`make bench-fleet`) into a Markdown table, one column per
design, between the bench-fleet markers of each file given (the README and
docs/performance.md). Each acceptance target of the incident benchmark is checked: the
table says "met" or by how much it was missed, and the exit status is 1 when any is missed.

Usage: python bench/fleet_table.py bench/fleet-260.json [--into README.md docs/performance.md]
"""

import argparse
import datetime
import json
import os

from table import machine, write_between

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN, END = "<!-- bench-fleet:begin (make bench-fleet writes this table) -->", "<!-- bench-fleet:end -->"


def rows(figures: dict) -> tuple[list[str], list[str]]:
    designs = figures["designs"]
    baseline = next((d for d in designs if d["design"] == "polling"), None)
    if baseline is None:
        # Not run this time: the cost of today's design from `make bench` (1,000 stacks).
        with open(os.path.join(HERE, "refresh-1000.json")) as f:
            baseline_cost = json.load(f)["cost"]["usd_per_1000_stacks"]
    else:
        baseline_cost = baseline["usd_per_1000_stacks"]
    out, missed = [], []

    def row(what: str, cells: list[str], target: str = "", verdicts: list[bool | None] | None = None) -> None:
        if verdicts is not None:
            marks = ["" if v is None else ("met" if v else "**missed**") for v in verdicts]
            cells = [f"{c} ({m})" if m else c for c, m in zip(cells, marks)]
            for d, v, c in zip(designs, verdicts, cells):
                if v is False and d["design"] == "events":
                    missed.append(f"{what}: {c} (target {target})")
        out.append(f"| {what} | " + " | ".join(cells) + f" | {target} |")

    def scale(d: dict) -> float:
        return d.get("time_scale", figures["time_scale"])

    row("MaxConcurrency per account-region", [str(d["max_concurrency_per_account_region"]) for d in designs])
    row("time scale (AWS slowed by; figures below in AWS time)", [f"{scale(d):g}" for d in designs])
    row("stacks refreshed / failed", [f"{d['counts'].get('refreshed', 0)} / {d['counts'].get('failed', 0)}" for d in designs],
        f"all {figures['stacks']}", [d["counts"].get("refreshed") == figures["stacks"] for d in designs])
    row("every stack fresh after (AWS time)", [f"{d['fresh_aws_seconds']:.0f} s" for d in designs])
    row("physical limit (AWS time)",
        [f"{d['physical_limit_seconds'] / scale(d):.0f} s (slowest stack's two updates {d['slowest_stack_two_updates_seconds'] / scale(d):.0f} s; "
         f"calls at the API rates alone {d['rate_floor_seconds'] / scale(d):.0f} s)" for d in designs])
    row("fresh ÷ physical limit", [f"{d['fresh_over_physical_limit']}×" for d in designs], "≤ 1.25×",
        [d["fresh_over_physical_limit"] <= 1.25 for d in designs])
    row("CloudFormation read calls per stack per phase (all; the refresh's own)",
        [f"{d['read_calls_per_stack_per_phase']}; {d.get('refresh_read_calls_per_stack_per_phase', '?')}" for d in designs],
        "≤ 6", [d["read_calls_per_stack_per_phase"] <= 6 for d in designs])
    row("CloudFormation calls per stack, by API",
        [", ".join(f"{k} {v:g}" for k, v in d["cloudformation_calls_per_stack"].items()) for d in designs])
    row("throttled calls of the pipeline", [str(d["throttled_calls_of_the_pipeline"]) for d in designs])
    row("customer's DescribeStacks throttled",
        [f"{d['customer_probe']['throttled_percent']}% of {d['customer_probe']['calls']}" for d in designs], "< 1%",
        [d["customer_probe"]["throttled_percent"] < 1 for d in designs])
    row("customer's DescribeStacks latency p50 / p99 (the local AWS's load)",
        [f"{d['customer_probe']['latency_seconds']['p50']} s / {d['customer_probe']['latency_seconds']['p99']} s"
         if "latency_seconds" in d["customer_probe"] else "?" for d in designs])
    # The target is 50 for 1,300 stacks; a smaller fleet of the same shape per
    # account-region (FLEET="260 2") has proportionally fewer lanes starting at once, and
    # the peak comes from them (each begins one stack a second): the target pro rata.
    peak_target = 50 if figures["stacks"] >= 1300 else max(1, round(50 * figures["stacks"] / 1300))
    peak_label = "< 50" if peak_target == 50 else f"< {peak_target} (50 for 1,300 stacks, pro rata)"
    # From 2026-12-07 the local AWS answers in AWS's latency (patch 63) and the peak is in
    # one time base; a run before it counted durations as measured (bench/fleet.rs).
    latency = all("call_latency_seconds" in d for d in designs)
    peak_name = ("peak concurrent Lambda invocations (calls at AWS's latency, one time base)" if latency
                 else "peak concurrent Lambda invocations")
    row(peak_name, [str(d["peak_concurrent_lambda_invocations"]) for d in designs], peak_label,
        [d["peak_concurrent_lambda_invocations"] < peak_target for d in designs])
    if all("peak_concurrent_lambda_invocations_durations_unscaled" in d for d in designs):
        row("the same with durations as measured here (not divided by the scale; overlaps that never happened)",
            [str(d["peak_concurrent_lambda_invocations_durations_unscaled"]) for d in designs])
    if all("peak_concurrent_lambda_invocations_one_time_base" in d for d in designs):
        row("the same, in one time base (durations also divided by the scale; only overlaps that happened)",
            [str(d["peak_concurrent_lambda_invocations_one_time_base"]) for d in designs])
    row("invocations in flight at the peak, by function",
        [", ".join(f"{k.removeprefix('rotatetoken-')} {v}" for k, v in
                   d.get("peak_concurrent_lambda_invocations_by_function", {}).items()) or "?" for d in designs])
    row("Lambda per stack", [f"{d['lambda']['invocations_per_stack']} invocations, {d['lambda']['gb_seconds_per_stack']} GB-s"
                             for d in designs])
    row("state transitions per stack", [str(d["state_transitions_per_stack"]) for d in designs])
    row("states entered per stack (its child execution)",
        [", ".join(f"{k} {v:g}" for k, v in d.get("child_states_entered_per_stack", {}).items()) or "?"
         for d in designs])
    row("cost per 1,000 stacks (of which S3 requests)",
        [f"${d['usd_per_1000_stacks']}" + (f" (${d['s3_usd_per_1000_stacks']})" if "s3_usd_per_1000_stacks" in d else "")
         for d in designs],
        f"≤ today's (${baseline_cost})", [d["usd_per_1000_stacks"] <= baseline_cost for d in designs])
    row("status change events emitted / lost",
        [f"{d['status_events'].get('emitted', 0)} / {d['status_events'].get('lost', 0)}" for d in designs])
    return out, missed


def latency_sentence(latency: dict) -> str:
    """How long the local AWS took to answer each of the functions' calls (patch 63)."""
    by_service = ", ".join(f"{'others' if k == '*' else k} {v:g} s" for k, v in sorted(latency.items(), key=lambda kv: kv[0] == "*")
                           if k != "scale")
    return (f"Each call of the functions answered in AWS's typical latency ({by_service}; emulator patch 63), "
            "slowed with the run; the local AWS's own work counts within it, and beyond it only where it took longer.")


def render(figures: dict) -> tuple[str, list[str]]:
    body, missed = rows(figures)
    u = figures["update_seconds"]
    rate = figures["api_rate_per_account_region"]
    head = (
        f"Measured by `make bench-fleet` on {datetime.date.today().isoformat()}, {machine()}: "
        f"{figures['stacks']} stacks in {figures['accounts']} accounts × {len(figures['regions'])} regions, "
        f"each stack's updates {u['min']:g} s to {u['max']:g} s (log-normal, median {u['median']:g} s), "
        f"each design's time scale in the table; every CloudFormation API at {rate['calls_per_second']:g} calls a second "
        f"(burst {rate['burst']:g}) per account-region; {figures['status_events_lost'] * 100:g}% of status change events lost; "
        + (f"each change set created in {figures['change_set_seconds']:g} s (an assumption); " if "change_set_seconds" in figures else "")
        + f"a customer's DescribeStacks {figures['customer_probe_calls_per_second']:g} a second throughout; "
        f"functions: {figures['functions_profile']} builds. "
        + (latency_sentence(figures["designs"][0]["call_latency_seconds"])
           if all("call_latency_seconds" in d for d in figures["designs"])
           else "Lambda times are local (upper bounds).")
        + "\n\n"
        "| figure | " + " | ".join(d["design"] for d in figures["designs"]) + " | target |\n"
        "| --- | " + " | ".join("---" for _ in figures["designs"]) + " | --- |\n"
    )
    return head + "\n".join(body) + "\n", missed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--into", nargs="*", default=[])
    ap.add_argument("figures", help="the benchmark's figures (bench/fleet-<stacks>.json)")
    args = ap.parse_args()
    with open(args.figures) as f:
        figures = json.load(f)
    text, missed = render(figures)
    for path in args.into:
        write_between(path, BEGIN, END, text)
    print(text)
    if missed:
        print("Missed (events design):\n- " + "\n- ".join(missed))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
