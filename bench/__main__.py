"""`python -m bench [names...] [--quick] [--repeats N]`: run benchmarks on a fresh stack.

Without the stack's variables in the environment it re-runs itself under
`deploy/local/stack.py exec`, which starts Kafka, the MongoDB-compatible server and MinIO on
free loopback ports and stops them afterwards. Benchmarks report; they never fail on a number.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
import traceback

from bench import BENCHMARKS
from bench.harness import (
    PROFILES,
    Options,
    environment,
    platform_for,
    reexec_under_stack,
    stack_present,
)
from bench.results import RESULTS_DIR, RESULTS_MD, render_markdown, write_markdown, write_result


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}"
    )
    ap.add_argument("--quick", action="store_true", help="small sizes, for `make test`")
    ap.add_argument("--repeats", type=int, default=None, help="repetitions (default 3, quick 2)")
    ap.add_argument("--profile", action="store_true", help="run the services under pyinstrument")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return args


async def run_all(names: list[str], options: Options) -> int:
    # Quick runs (`make test`) never overwrite the full-size results that are committed.
    # Profiled runs are slowed by the profiler, so they go beside their profiles.
    directory = RESULTS_DIR / "quick" if options.quick else RESULTS_DIR
    directory = PROFILES if options.profile else directory
    markdown = RESULTS_MD if directory == RESULTS_DIR else directory / "RESULTS.md"
    failed = 0
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        print(f"== {name}: {module.TITLE}", flush=True)
        started = time.monotonic()
        env = environment(options)  # machine load and date as the benchmark starts
        try:
            # A fresh namespace (topics, databases, buckets) and scratch directory per benchmark.
            async with platform_for(options, name) as platform:
                result = await module.run(platform)
        except Exception:
            traceback.print_exc()
            failed += 1
            continue
        written = result.as_dict(env)
        path = write_result(written, directory)
        print(f"   wrote {path} ({time.monotonic() - started:.0f} s)", flush=True)
        table = render_markdown([written]).split("\n\n## Runs")[0].splitlines()
        print("\n".join(line for line in table if line.startswith("| ")), flush=True)
    print(f"wrote {write_markdown(directory, markdown)}", flush=True)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    args = parse(argv)
    if not stack_present():
        return reexec_under_stack(argv)
    repeats = args.repeats or (2 if args.quick else 3)
    options = Options(quick=args.quick, repeats=repeats, profile=args.profile)
    return asyncio.run(run_all(args.names or list(BENCHMARKS), options))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
