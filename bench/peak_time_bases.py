"""The peak of concurrent Lambda invocations of a kept fleet run, in both time bases.

`make bench-fleet` keeps each design's raw logs (target/bench-fleet-<design>-*.json). This
reads the invocation log and prints the peak in one time base (durations divided by the
scale as the starts are: the headline since the local AWS answers in AWS's latency, patch
63) and with durations as measured (the headline of runs before it: overlaps that never
happened), with where the peak fell and what ran then (bench/fleet.rs, `peak_concurrency`,
says why the two differ), and the refresh looks begun together before it (`clusters`).
The log is the local AWS's
whole invocation log: times are from its first invocation, which may precede the run, and
invocations before the run count too (bench/fleet.rs skips them).

Usage: python3 bench/peak_time_bases.py target/bench-fleet-events-invocations.json 5
"""

import collections
import json
import sys


def peak(invocations, start_scale, duration_scale):
    t0 = min(i["started_at"] for i in invocations)
    edges = []
    for i in invocations:
        start = (i["started_at"] - t0) / start_scale
        edges.append((start, 1, i["function"]))
        edges.append((start + i["seconds"] / duration_scale, -1, i["function"]))
    # An end before a start at the same instant, as bench/fleet.rs counts.
    edges.sort(key=lambda e: (e[0], e[1]))
    now = best = 0
    at = 0.0
    running = collections.Counter()
    at_peak = {}
    for t, d, function in edges:
        now += d
        running[function] += d
        if now > best:
            best, at, at_peak = now, t, {k: v for k, v in running.items() if v > 0}
    return best, round(at, 1), at_peak


def clusters(invocations, scale, around, window=20.0, within=0.06, least=8):
    """The refresh looks that began together (`least` or more within `within` s) in the
    `window` seconds before `around` (AWS time, the peak's): when each group began, how
    many, and their median duration. Step Functions waits whole seconds, so each second's
    first looks (after `Stagger`) begin together, and so do its second looks (after
    `Pause`); where the two groups' durations add up to more than a second, a second's
    second looks overlap the next second's first looks (docs/performance.md)."""
    t0 = min(i["started_at"] for i in invocations)
    looks = sorted(
        ((i["started_at"] - t0) / scale, i["seconds"] / scale)
        for i in invocations
        if i["function"] == "rotatetoken-refresh"
    )
    out, i = [], 0
    while i < len(looks):
        j = i
        while j + 1 < len(looks) and looks[j + 1][0] - looks[i][0] < within:
            j += 1
        if j - i + 1 >= least and around - window <= looks[i][0] <= around:
            durations = sorted(d for _, d in looks[i : j + 1])
            out.append((round(looks[i][0], 2), j - i + 1, round(durations[len(durations) // 2], 2)))
        i = j + 1
    return out


def main():
    path, scale = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    invocations = json.load(open(path))
    print(f"{len(invocations)} invocations, time scale {scale:g}")
    headline = peak(invocations, scale, scale)
    print("one time base (durations also divided by the scale; the headline):", headline)
    print("durations as measured (the headline before patch 63):", peak(invocations, scale, 1.0))
    print("refresh looks begun together before the peak (began at, how many, median seconds):")
    for group in clusters(invocations, scale, headline[1]):
        print("  ", group)


if __name__ == "__main__":
    main()
