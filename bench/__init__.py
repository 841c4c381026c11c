"""Benchmarks against the real local stack (issue 7): each module in `BENCHMARKS` exposes
`NAME`, `TITLE` and `async def run(platform: Platform) -> BenchResult`; `python -m bench` runs
them and writes `bench/results/<name>.json` and `bench/RESULTS.md`."""

# In the order they run; later benchmarks (pipeline, report rendering, board fan-out,
# scale-out) are added here as modules of the same shape.
BENCHMARKS = {
    "dicom_ingest": "bench.dicom_ingest",
    "upload_memory": "bench.upload_memory",
    "pipeline": "bench.pipeline",
    "scale_out": "bench.scale_out",
    "report_rendering": "bench.report_rendering",
    "board_fanout": "bench.board_fanout",
    "store": "bench.store",
}
