"""bench/RESULTS.md is built from the result files alone: figure, reference, target."""

from __future__ import annotations

import json
from pathlib import Path

from bench.results import BenchResult, Figure, Target, render_markdown, write_markdown

ENVIRONMENT = {
    "date": "2026-11-23T20:00:00+00:00",
    "git_commit": "0123456789abcdef",
    "git_dirty": False,
    "machine": {"cpu_model": "Test CPU", "cpu_count": 2, "memory_gib": 8.0, "load_average": [1]},
    "options": {"quick": True, "repeats": 2},
}


def ingest_result() -> dict[str, object]:
    result = BenchResult("dicom_ingest", "DICOM ingest")
    result.figures.append(
        Figure(
            "records STOW-RS throughput, 1 client",
            value=30.0,
            unit="MB/s",
            reference_name="Orthanc STOW-RS",
            reference_value=20.0,
            target=Target(">=", 1.5, applies_to="ratio"),
            ratio_samples=[1.4, 1.6, 1.5],
        )
    )
    result.figures.append(
        Figure(
            "records STOW-RS throughput, 1 client",
            value=30.0,
            unit="MB/s",
            reference_name="raw MinIO PUT",
            reference_value=60.0,
            target=Target(">=", 0.6, applies_to="ratio"),
        )
    )
    result.notes.append("records runs, CPU by process: records 3.0 s")
    return result.as_dict(ENVIRONMENT)


def memory_result() -> dict[str, object]:
    result = BenchResult("upload_memory", "Upload memory")
    result.figures.append(
        Figure("peak RSS growth, 2 GB document upload", 12.5, "MiB", target=Target("<", 64))
    )
    result.figures.append(Figure("peak RSS growth, 1 GB CD zip", float("nan"), "MiB"))
    return result.as_dict(ENVIRONMENT)


def rows(markdown: str) -> list[list[str]]:
    table = [line for line in markdown.splitlines() if line.startswith("| ")][1:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table]


def test_each_figure_is_a_row_with_its_reference_ratio_target_and_verdict() -> None:
    found = rows(render_markdown([ingest_result(), memory_result()]))

    assert found == [
        [
            "dicom_ingest",
            "records STOW-RS throughput, 1 client",
            "30.0 MB/s",
            "20.0 MB/s (Orthanc STOW-RS)",
            "1.50x",
            "≥ 1.5x",
            "met",
        ],
        [
            "dicom_ingest",
            "records STOW-RS throughput, 1 client",
            "30.0 MB/s",
            "60.0 MB/s (raw MinIO PUT)",
            "0.50x",
            "≥ 0.6x",
            "**not met**",
        ],
        [
            "upload_memory",
            "peak RSS growth, 2 GB document upload",
            "12.5 MiB",
            "—",
            "—",
            "< 64.0 MiB",
            "met",
        ],
        ["upload_memory", "peak RSS growth, 1 GB CD zip", "—", "—", "—", "—", "—"],
    ]


def test_the_paired_ratio_median_decides_and_the_run_is_described() -> None:
    result = ingest_result()
    figures = result["figures"]
    assert isinstance(figures, list)
    assert figures[0]["ratio"] == 1.5 and figures[0]["met"] is True
    assert result["targets_met"] is False

    markdown = render_markdown([result])
    assert "commit 0123456789ab" in markdown
    assert "2 x Test CPU" in markdown and "quick sizes" in markdown
    assert "records runs, CPU by process: records 3.0 s" in markdown


def test_results_md_is_regenerated_from_the_json_files(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    for result in (memory_result(), ingest_result()):
        path = tmp_path / "results" / f"{result['name']}.json"
        path.write_text(json.dumps(result))

    target = write_markdown(tmp_path / "results", tmp_path / "RESULTS.md")

    names = [row[0] for row in rows(target.read_text())]
    assert names == ["dicom_ingest", "dicom_ingest", "upload_memory", "upload_memory"]
