"""Benchmark 6: the pipeline benchmark with 1 vs 2 instances of records and assignment.

The second process of each joins the same consumer group (the group derives from the
namespace), so the topics' 6 partitions are shared. Both configurations are offered the same
rate, above what one instance sustains; the figure is the completion-rate ratio, with CPU
utilisation per process (on 2 cores the ratio is bounded by CPU).
"""

from __future__ import annotations

from bench.harness import Platform, platform_for
from bench.pipeline import measure
from bench.results import BenchResult, Figure, Target

NAME = "scale_out"
TITLE = "Scale-out: pipeline cases/s with 2 vs 1 instances of records and assignment"


async def run(platform: Platform) -> BenchResult:
    quick = platform.options.quick
    # Above what one instance sustains (about 10 cases/s here since the store round trips were
    # cut; 3 before), not so far above that cases time out waiting.
    rate, step_s = (8.0, 8.0) if quick else (12.0, 30.0)
    result = BenchResult(NAME, TITLE)
    one = (await measure(platform, 1, (rate,), step_s))[0]
    # A namespace of its own, so the second run does not start with the first one's cases.
    async with platform_for(platform.options, NAME) as fresh:
        two = (await measure(fresh, 2, (rate,), step_s))[0]
    result.figures.append(
        Figure(
            f"cases/s with 2 instances (offered {rate:g}/s)",
            two.completion_rate,
            "cases/s",
            reference_name="1 instance",
            reference_value=one.completion_rate,
            target=Target(">", 1.0, "ratio"),
        )
    )
    result.details = {"one_instance": one.as_dict(), "two_instances": two.as_dict()}
    for label, step in (("1 instance", one), ("2 instances", two)):
        use = step.as_dict()["cpu_utilisation"]
        top = ", ".join(f"{k} {v:.0%}" for k, v in sorted(use.items(), key=lambda kv: -kv[1])[:5])
        result.notes.append(f"{label}: {step.completion_rate:.1f} cases/s; CPU {top}")
    return result
