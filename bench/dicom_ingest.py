"""Benchmark 1: DICOM ingest through records STOW-RS, against Orthanc STOW-RS and raw MinIO PUTs.

Each repetition builds a new study (new UIDs), then sends the same bytes to the three targets
back to back, in a rotating order, with the same number of concurrent clients: the records
service (a new case each time), Orthanc with its DICOMweb plugin, and MinIO through the SDK
(one PUT per instance: the limit of a design that stores instances as objects).
"""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from minio import Minio

from bench.harness import Platform
from bench.orthanc import running_orthanc
from bench.processes import CpuMeter, stack_pids
from bench.results import BenchResult, Figure, Target, median
from bench.stow_targets import Targets, remove_bucket
from bench.study import StudyShape, build_study

NAME = "dicom_ingest"
TITLE = "DICOM ingest: records STOW-RS vs Orthanc STOW-RS vs raw MinIO PUT"
TARGETS = ("records", "orthanc", "raw")
MB = 1_000_000


@dataclass(frozen=True)
class Sizes:
    shape: StudyShape
    batch: int  # instances per STOW request, as a PACS sends them
    clients: tuple[int, ...]


def sizes(quick: bool) -> Sizes:
    if quick:
        return Sizes(StudyShape(ct_slices=30, mr_images=6), batch=10, clients=(1, 4))
    return Sizes(StudyShape(ct_slices=300, mr_images=24), batch=30, clients=(1, 4))


@dataclass
class Sample:
    seconds: float
    instances: int
    bytes: int
    retries: int
    cpu: dict[str, float]

    @property
    def instances_per_s(self) -> float:
        return self.instances / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.bytes / MB / self.seconds


@dataclass
class Samples:
    by_target: dict[tuple[str, int], list[Sample]] = field(default_factory=dict)

    def add(self, target: str, clients: int, sample: Sample) -> None:
        self.by_target.setdefault((target, clients), []).append(sample)

    def of(self, target: str, clients: int) -> list[Sample]:
        return self.by_target.get((target, clients), [])


async def run(platform: Platform) -> BenchResult:
    options = platform.options
    chosen = sizes(options.quick)
    samples = Samples()
    env = platform.service_env()
    minio = Minio(
        env["S3_ENDPOINT"],
        access_key=env["S3_ACCESS_KEY"],
        secret_key=env["S3_SECRET_KEY"],
        secure=env.get("S3_SECURE", "false").lower() == "true",
    )
    bucket = platform.stack.bucket("bench-raw")
    await asyncio.to_thread(minio.make_bucket, bucket)
    async with platform.service("records") as records:
        with ExitStack() as stack:
            orthanc = stack.enter_context(running_orthanc(platform.scratch / "orthanc"))
            pids = {"records": records.process.pid, "orthanc": orthanc.pid, **stack_pids()}
            meter = CpuMeter(pids)
            targets = Targets(platform, records.url, orthanc.url, minio, bucket)
            try:
                # Warm-up: first requests pay for imports, connections and index creation.
                warm = build_study(StudyShape(ct_slices=4, mr_images=2))
                case_id = await platform.open_case(records.url)
                for target in TARGETS:
                    await targets.send(target, warm, chosen.batch, 1, case_id)
                rotation = 0
                for clients in chosen.clients:
                    for _ in range(options.repeats):
                        parts = await asyncio.to_thread(build_study, chosen.shape)
                        case_id = await platform.open_case(records.url)
                        order = TARGETS[rotation % 3 :] + TARGETS[: rotation % 3]
                        rotation += 1
                        for target in order:
                            meter.start()
                            retries = await targets.send(
                                target, parts, chosen.batch, clients, case_id
                            )
                            cpu = meter.stop()
                            sample = Sample(
                                cpu["wall"], len(parts), sum(map(len, parts)), retries, cpu
                            )
                            samples.add(target, clients, sample)
                            print(
                                f"  {target:8} {clients} client(s): "
                                f"{sample.instances_per_s:7.1f} inst/s "
                                f"{sample.mb_per_s:7.1f} MB/s ({retries} retries)",
                                flush=True,
                            )
            finally:
                await targets.close()
                await asyncio.to_thread(remove_bucket, minio, bucket)
    return summarize(samples, chosen, orthanc.version, orthanc.plugin_version, options.repeats)


def _paired(samples: Samples, target: str, reference: str, clients: int) -> list[float]:
    pairs = zip(samples.of(target, clients), samples.of(reference, clients), strict=True)
    return [a.mb_per_s / b.mb_per_s for a, b in pairs]


def summarize(
    samples: Samples, chosen: Sizes, orthanc_version: str, plugin_version: str, repeats: int
) -> BenchResult:
    result = BenchResult(NAME, TITLE)
    labels = {"orthanc": "Orthanc STOW-RS", "raw": "raw MinIO PUT"}
    goals = {"orthanc": 1.5, "raw": 0.6}
    for clients in chosen.clients:
        plural = "client" if clients == 1 else "clients"
        mine = samples.of("records", clients)
        for reference in ("orthanc", "raw"):
            theirs = samples.of(reference, clients)
            result.figures.append(
                Figure(
                    name=f"records STOW-RS throughput, {clients} {plural}",
                    value=median(s.mb_per_s for s in mine),
                    unit="MB/s",
                    reference_name=labels[reference],
                    reference_value=median(s.mb_per_s for s in theirs),
                    target=Target(">=", goals[reference], applies_to="ratio"),
                    samples=[s.mb_per_s for s in mine],
                    reference_samples=[s.mb_per_s for s in theirs],
                    ratio_samples=_paired(samples, "records", reference, clients),
                )
            )
        # The ceiling of this design: records stores every instance as a MinIO object.
        raw = samples.of("raw", clients)
        result.figures.append(
            Figure(
                name=f"raw MinIO PUT (the design's limit), {clients} {plural}",
                value=median(s.mb_per_s for s in raw),
                unit="MB/s",
                reference_name=labels["orthanc"],
                reference_value=median(s.mb_per_s for s in samples.of("orthanc", clients)),
                samples=[s.mb_per_s for s in raw],
                ratio_samples=_paired(samples, "raw", "orthanc", clients),
            )
        )
        result.figures.append(
            Figure(
                name=f"records STOW-RS instances, {clients} {plural}",
                value=median(s.instances_per_s for s in mine),
                unit="inst/s",
                reference_name=labels["orthanc"],
                reference_value=median(s.instances_per_s for s in samples.of("orthanc", clients)),
                samples=[s.instances_per_s for s in mine],
            )
        )
    result.details = {
        "study": {
            "ct_slices": chosen.shape.ct_slices,
            "mr_images": chosen.shape.mr_images,
            "instances_per_request": chosen.batch,
            "repeats": repeats,
        },
        "orthanc": {"version": orthanc_version, "dicomweb_plugin": plugin_version},
        "runs": {
            f"{target}/{clients}": [_sample_dict(s) for s in found]
            for (target, clients), found in samples.by_target.items()
        },
        "cpu_seconds_median": {
            f"{target}/{clients}": _cpu_median(found)
            for (target, clients), found in samples.by_target.items()
        },
    }
    result.notes.append(_where_time_goes(samples, chosen.clients))
    return result


def _sample_dict(sample: Sample) -> dict[str, Any]:
    return {
        "seconds": round(sample.seconds, 3),
        "instances": sample.instances,
        "bytes": sample.bytes,
        "instances_per_s": round(sample.instances_per_s, 2),
        "mb_per_s": round(sample.mb_per_s, 2),
        "retries": sample.retries,
        "cpu_seconds": sample.cpu,
    }


def _cpu_median(found: list[Sample]) -> dict[str, float]:
    names = {name for s in found for name in s.cpu}
    return {n: round(median(s.cpu.get(n, 0.0) for s in found), 3) for n in sorted(names)}


def _where_time_goes(samples: Samples, clients: tuple[int, ...]) -> str:
    """CPU seconds per process during the records runs, e.g. `records 3.1 s, minio 1.2 s`."""
    parts = []
    for count in clients:
        cpu = _cpu_median(samples.of("records", count))
        wall = cpu.pop("wall", 0.0)
        loop = cpu.pop("records event loop", 0.0)  # part of `records`, shown beside it
        busiest = sorted(cpu.items(), key=lambda kv: -kv[1])[:4]
        listed = ", ".join(
            f"{k} {v:.1f} s" + (f" (event loop {loop:.1f} s)" if k == "records" else "")
            for k, v in busiest
        )
        parts.append(f"{count} client(s): {wall:.1f} s wall; CPU {listed}")
    return "records runs, CPU by process (median): " + "; ".join(parts)
