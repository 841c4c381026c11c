"""dicom_ingest's figures from its samples: every way in against its reference, paired by run."""

from __future__ import annotations

from bench.dicom_ingest import TARGETS, Sample, Samples, sizes, summarize

MB = 1_000_000


def sample(seconds: float, ingest_seconds: float | None = None) -> Sample:
    cpu = {"wall": seconds}
    return Sample(
        seconds, instances=10, bytes=10 * MB, retries=0, cpu=cpu, ingest_seconds=ingest_seconds
    )


def test_each_way_in_is_compared_with_its_reference_and_the_presigned_time_with_raw() -> None:
    seconds = {
        "records": 1.0,
        "presigned": 2.1,
        "cstore": 4.0,
        "orthanc": 2.0,
        "orthanc-cstore": 5.0,
        "raw": 2.0,
    }
    samples = Samples()
    for clients in (1, 4):
        for _ in range(2):
            for target in TARGETS:
                ingest = 1.5 if target == "presigned" else None
                samples.add(target, clients, sample(seconds[target], ingest))

    result = summarize(samples, sizes(quick=True), "1.10.1", "1.7", repeats=2)

    by_name = {(f.name, f.reference_name): f for f in result.figures}
    stow = by_name[("records STOW-RS throughput, 1 client", "Orthanc STOW-RS")]
    assert (stow.value, stow.ratio) == (10.0, 2.0)
    assert stow.target is not None and stow.target.met_by(stow)
    presigned = by_name[("records presigned upload throughput, 4 clients", "Orthanc STOW-RS")]
    assert presigned.ratio is not None and round(presigned.ratio, 3) == round(2.0 / 2.1, 3)
    cstore = by_name[("records C-STORE throughput, 1 client", "Orthanc C-STORE")]
    assert cstore.ratio == 1.25
    overhead = by_name[("records presigned upload time / raw MinIO PUT time, 1 client", None)]
    assert round(overhead.value, 3) == 1.05
    assert overhead.target is not None and overhead.target.met_by(overhead)
    assert set(result.details["cpu_seconds_median"]) == {
        f"{t}/{c}" for t in TARGETS for c in (1, 4)
    }
    assert [n.split(" runs")[0] for n in result.notes[:3]] == [
        "records STOW-RS",
        "records presigned upload",
        "records C-STORE",
    ]
    assert result.notes[3] == (
        "records presigned upload (median): 1 client(s): 2.1 s, of which ingest after complete "
        "1.5 s; 4 client(s): 2.1 s, of which ingest after complete 1.5 s"
    )
    assert result.details["runs"]["presigned/1"][0]["ingest_seconds"] == 1.5
