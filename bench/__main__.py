"""`make bench`: burst, steady, precision and future in sequence, each against a fresh database
and vhost with its own local stack (the burst twice: its goal without the benchmark's post.due
subscriber, the arrivals with it), then ONE table — run, goal, measured, met? — and the peak RSS
and CPU seconds per 1,000 posts of each service in each run. When bench/celery_peer.py and Celery
are importable, the same burst and steady through Celery 5 ETA tasks, side by side with Siar.

    uv run --group bench python -m bench                  # full length (about half an hour with Celery)
    uv run --group bench python -m bench --quick          # short runs, a check that all works
    uv run --group bench python -m bench --only steady future --json results.json

Benchmarks, not tests: nothing here fails a build; a goal not met is a reading to act on."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import math
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .common import machine

RUNS = ("burst", "steady", "precision", "future")
FULL = {"burst": 20_000, "steady_rate": 500, "steady_seconds": 300, "precision_posts": 200,
        "precision_seconds": 210, "future_rows": 1_000_000, "future_seconds": 90}
QUICK = {"burst": 2_000, "steady_rate": 100, "steady_seconds": 30, "precision_posts": 20,
         "precision_seconds": 30, "future_rows": 100_000, "future_seconds": 30}

Check = tuple[str, str, bool | None]  # goal, measured, met (None: a reading without a goal)


def ms(seconds: float) -> str:
    return "–" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:,.0f} ms"


def lateness(late: dict) -> str:
    return f"p50 {ms(late['p50'])}, p99 {ms(late['p99'])}, p99.9 {ms(late['p99.9'])}, max {ms(late['max'])}"


def burst_checks(r: dict) -> list[Check]:
    """The goal from the run without the benchmark's subscriber (the confirmed moment needs none);
    the arrivals from a second run with it, which the Celery comparison reads."""
    tapped = r.get("tapped")
    arrivals = [] if not tapped else [
        ("(reading) a second run, a subscriber timing each arrival",
         f"{tapped['dispatch_rate']:,.0f}/s, {tapped['ratio_by_arrival']:.2f} of that run's raw; last "
         f"{tapped['dispatch_seconds']:.1f} s after the due second; confirmed {tapped['confirmed_rate']:,.0f}/s = "
         f"{tapped['ratio']:.2f} with the subscriber's load", None)]
    return [
        ("dispatch ≥ 0.7 × raw broker rate",
         f"{r['confirmed_rate']:,.0f}/s confirmed vs raw {r['raw_rate']:,.0f}/s = {r['ratio']:.2f}", r["ratio"] >= 0.7),
        *arrivals,
        ("(reading) raw before (idle) / after the burst",
         f"{r['raw_rate_before']:,.0f}/s / {r['raw_rate_after']:,.0f}/s; against idle raw alone "
         f"{r['ratio_to_idle_raw']:.2f}", None),
        ("(reading) against Siar's own publishing alone (no claim, no events to build)",
         f"{r['raw_siar_before']:,.0f}/s / {r['raw_siar_after']:,.0f}/s before / after; "
         f"ratio {r['ratio_to_raw_siar']:.2f}", None),
        ("(reading) all accepted by the sandbox", f"{r['sandbox_posts']:,} after {r['accepted_seconds']:.1f} s", None),
    ]


def confirmed(r: dict) -> Check:
    """The scheduler's own due-to-confirmed histogram: the lateness with no subscriber in between."""
    shares = r.get("confirmed_within_seconds") or {}
    within = ", ".join(f"{shares[le] * 100:.1f} % ≤ {label}" for le, label in (("0.1", "100 ms"), ("1.0", "1 s"))
                       if le in shares)
    return ("(reading) broker-confirmed, from the scheduler's histogram", within or "–", None)


def steady_checks(r: dict) -> list[Check]:
    late = r["lateness"]
    everything = r["all_dispatched"]
    return [
        ("lateness p99 < 100 ms", lateness(late)
         + ("; the feeder fell behind, lateness includes its delay" if r["feeder_worst_margin_seconds"] < 0 else ""),
         everything and late["p99"] < 0.1),
        ("lateness max < 1 s", f"max {ms(late['max'])}; {r['dispatched']:,}/{r['n']:,} post.due",
         everything and late["max"] < 1.0),
        confirmed(r),
        ("(reading) delivered to the sandbox",
         f"{r['delivered_by_end']:,}/{r['n']:,} by the end; all "
         + (f"{r['all_delivered_seconds_after_end']:.1f} s after it" if r["all_delivered_seconds_after_end"] is not None
            else f"not within the drain ({r['delivered']:,})"), None),
    ]


def precision_checks(r: dict) -> list[Check]:
    late = r["lateness"]
    return [("lateness p99 < 50 ms", f"{lateness(late)}; {r['dispatched']}/{r['posts']} post.due",
             r["all_dispatched"] and late["p99"] < 0.05), confirmed(r)]


def future_checks(r: dict) -> list[Check]:
    rss, claim = r["scheduler_rss_mb"], r["claim"]["claim_ms"]
    growth = (rss["run_end"] or 0) - rss["before_load"]
    depth = r["max_queue_depths"].get("publisher", 0)
    nothing_early = (r["post_due_before_due_time"] == 0 and r["future_targets_claimed"] == 0
                     and r["trickle_dispatched"] <= r["trickle_expected"] and depth <= r["trickle_expected"])
    return [
        ("scheduler RSS < 150 MB and flat (< 10 MB growth)",
         f"{rss['before_load']:.0f} MB before the load, {rss['run_end']:.0f} MB at the end, max {rss['max']:.0f} MB",
         rss["max"] < 150 and growth < 10),
        (f"claim p99 < 20 ms ({r['rows']:,} future rows)",
         f"p50 {claim['p50']:.2f} ms, p99 {claim['p99']:.2f} ms, max {claim['max']:.2f} ms", claim["p99"] < 20),
        ("nothing future-dated in the broker or claimed",
         f"{r['post_due_before_due_time']} early post.due, {r['future_targets_claimed']} future targets claimed, "
         f"{r['trickle_dispatched']}/{r['trickle_expected']} post.due (the trickle only), publisher queue ≤ {depth}",
         nothing_early),
        ("(reading) the trickle's lateness, a million rows waiting", lateness(r["trickle_lateness"]), None),
    ]


CHECKS: dict[str, Callable[[dict], list[Check]]] = {
    "burst": burst_checks, "steady": steady_checks, "precision": precision_checks, "future": future_checks}


async def run_one(name: str, p: dict) -> dict:
    module = importlib.import_module(f"bench.{name}")
    if name == "burst":
        # The benchmark's own post.due subscriber takes a quarter of a core and the broker's
        # deliveries to it (docs/benchmarks.md), so the goal is read without it, and the arrivals
        # — the only measure Celery has too — in a second run with it.
        result = await module.run(p["burst"], with_tap=False)
        result["tapped"] = await module.run(p["burst"], with_tap=True)
        return result
    if name == "steady":
        return await module.run(p["steady_rate"], p["steady_seconds"], drain=60 if p["quick"] else 180)
    if name == "precision":
        return await module.run(p["precision_posts"], p["precision_seconds"], seed=p["seed"])
    return await module.run(p["future_rows"], p["future_seconds"], seed=p["seed"])


def celery_peer():
    """bench.celery_peer when it and Celery are importable, else the reason it is skipped."""
    if importlib.util.find_spec("celery") is None:
        return None, "celery is not installed (make bench syncs the bench group)"
    if importlib.util.find_spec("bench.celery_peer") is None:
        return None, "bench/celery_peer.py does not exist yet"
    return importlib.import_module("bench.celery_peer"), None


async def run_celery(peer, runs: list[str], p: dict) -> dict:
    out: dict = {}
    for name in ("burst", "steady"):
        if name not in runs:
            continue
        print(f"… celery {name}", file=sys.stderr, flush=True)
        try:
            out[name] = (await peer.burst(p["burst"]) if name == "burst"
                         else await peer.steady(p["steady_rate"], p["steady_seconds"]))
        except Exception as exc:  # a failed peer run is reported, the rest still runs
            traceback.print_exc()
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def table(rows: list[list[str]], header: list[str], right: set[int] = frozenset()) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def met(value: bool | None) -> str:
    return "–" if value is None else ("yes" if value else "**no**")


def resource_rows(label: str, result: dict) -> list[list[str]]:
    rows = []
    for service, r in sorted((result.get("resources") or {}).items()):
        peak, cpu = r.get("peak_rss_mb"), r.get("cpu_s_per_1000")
        rows.append([label, service, "–" if peak is None else f"{peak:.0f}", "–" if cpu is None else f"{cpu:.2f}"])
    return rows


def side_by_side(siar: dict, celery: dict) -> str:
    """Siar and Celery on the same measures; the ratio is Siar ÷ Celery (for a rate higher is
    better, for lateness lower is better)."""
    measures = [
        ("burst", "dispatch rate (/s, higher is better)", lambda r: r["dispatch_rate"], "{:,.0f}"),
        ("burst", "lateness p99 (s)", lambda r: r["lateness"]["p99"], "{:.3f}"),
        ("burst", "lateness max (s)", lambda r: r["lateness"]["max"], "{:.3f}"),
        ("steady", "dispatch rate (/s)", lambda r: r["dispatch_rate"], "{:,.0f}"),
        ("steady", "lateness p50 (s)", lambda r: r["lateness"]["p50"], "{:.3f}"),
        ("steady", "lateness p99 (s)", lambda r: r["lateness"]["p99"], "{:.3f}"),
        ("steady", "lateness max (s)", lambda r: r["lateness"]["max"], "{:.3f}"),
    ]
    rows = []
    for run, label, get, fmt in measures:
        s, c = siar.get(run), celery.get(run)
        s = (s or {}).get("tapped", s)  # the burst's arrivals are in its run with the subscriber
        if not s or not c or "error" in s or "error" in c:
            continue
        try:
            a, b = get(s), get(c)
        except (KeyError, TypeError):  # a measure one side does not report
            continue
        rows.append([run, label, fmt.format(a), fmt.format(b), f"{a / b:.2f}" if b else "–"])
    return table(rows, ["run", "measure", "Siar", "Celery", "Siar ÷ Celery"], {2, 3, 4})


def parse(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs: " + ", ".join(f"{k}={v}" for k, v in QUICK.items()))
    parser.add_argument("--only", nargs="+", choices=RUNS, default=list(RUNS), metavar="RUN", help=f"some of {RUNS}")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every result as JSON")
    parser.add_argument("--no-celery", action="store_true", help="skip the Celery peer runs")
    parser.add_argument("--seed", type=int, default=None, help="random seed for precision and future")
    for key, value in FULL.items():
        parser.add_argument("--" + key.replace("_", "-"), type=int, default=None, help=f"default {value:,}")
    args = parser.parse_args(argv)
    params = dict(QUICK if args.quick else FULL)
    params.update({k: getattr(args, k) for k in FULL if getattr(args, k) is not None})
    params.update(quick=args.quick, seed=args.seed, runs=args.only, json=args.json, celery=not args.no_celery)
    return params


async def main(argv: list[str]) -> None:
    p = parse(argv)
    started = datetime.now(UTC)
    results: dict[str, dict] = {}
    for name in p["runs"]:
        print(f"… {name}", file=sys.stderr, flush=True)
        try:
            results[name] = await run_one(name, p)
        except Exception as exc:  # one broken run must not lose the others' readings
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    celery, skipped = {}, None
    if p["celery"] and {"burst", "steady"} & set(p["runs"]):
        peer, skipped = celery_peer()
        if peer is not None:
            celery = await run_celery(peer, p["runs"], p)
    elif not p["celery"]:
        skipped = "--no-celery"

    command = "python -m bench " + " ".join(argv)
    host = machine()
    if p["json"]:  # first, so that nothing printed below can lose the readings
        p["json"].write_text(json.dumps({"machine": host, "command": command.strip(), "date": started.isoformat(),
                                         "params": {k: v for k, v in p.items() if k != "json"},
                                         "siar": results, "celery": celery or None, "celery_skipped": skipped},
                                        indent=2, default=str))
    print(f"\nmachine: {host}\ncommand: {command.strip()}\ndate: {started:%Y-%m-%d %H:%M} UTC\n")
    rows = []
    for name, result in results.items():
        if "error" in result:
            rows.append([name, "runs to the end", result["error"], "**no**"])
            continue
        rows += [[name, goal, measured, met(ok)] for goal, measured, ok in CHECKS[name](result)]
    print(table(rows, ["run", "goal", "measured", "met?"]))
    resources = [row for name, result in results.items() for row in resource_rows(name, result)]
    resources += [row for name, result in celery.items() for row in resource_rows(f"{name} (Celery)", result)]
    print("\n" + table(resources, ["run", "service", "peak RSS (MB)", "CPU s / 1,000 posts"], {2, 3}))
    warnings = [f"  {name}/{service}: {message} ×{count}" for name, result in results.items()
                for service, messages in (result.get("log_warnings") or {}).items() for message, count in messages.items()]
    if warnings:
        print("\nwarnings the services logged (see each run's JSON):\n" + "\n".join(warnings))
    if celery:
        print("\nSiar beside Celery 5 (ETA tasks, same broker):\n" + side_by_side(results, celery))
    elif skipped:
        print(f"\nCelery peer skipped: {skipped}.")
    if p["json"]:
        print(f"\nresults written to {p['json']}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
