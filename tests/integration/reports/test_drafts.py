"""From expert.assigned to a draft, and writing it: revisions, validation, the signing rules."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.reports.conftest import RECORDS_URL, Running
from tests.support import eventually
from tests.unit.reports import factories

pytestmark = pytest.mark.real


async def test_expert_assigned_opens_a_draft_once_however_often_it_arrives(
    reports: Running,
) -> None:
    events = await reports.open_case("case-d1")
    answer = await reports.client.get("/cases/case-d1/report/draft", headers=reports.auth("ana"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["etag"] == '"1"'
    draft = answer.json()
    assert draft["status"] == "draft" and draft["revision"] == 1
    assert [q["question_id"] for q in draft["case"]["questions"]] == ["q1", "q2", "q3", "q4", "q5"]
    assert draft["unanswered"] == ["q1", "q2", "q3", "q4", "q5"]
    assert draft["sections"]["diagnosis"]["original_diagnosis"].startswith("Medulloblastoma")
    study = draft["case"]["studies"][0]
    assert study["dicomweb_url"] == f"{RECORDS_URL}/dicomweb/studies/{study['study_instance_uid']}"
    assert draft["case"]["documents"][0]["url"] == f"{RECORDS_URL}/cases/case-d1/documents/doc-1"
    assert [m["expert_id"] for m in draft["team"]] == ["ana", "ben"]

    saved = await reports.client.patch(
        "/cases/case-d1/report/draft",
        json={"summary": "Reviewed."},
        headers={**reports.auth("ana"), "If-Match": '"1"'},
    )
    assert saved.status_code == 200, saved.text
    preview = await reports.client.get(
        "/cases/case-d1/report/draft/preview", headers=reports.auth("ben")
    )
    assert preview.status_code == 200 and "DRAFT" in preview.text and "Reviewed." in preview.text
    before = await reports.store.documents.load("case-d1")

    await reports.publish(*events)  # every event delivered again
    await eventually(lambda: reports.consumed("case.submitted"))
    await eventually(lambda: reports.consumed("records.ready"))
    await eventually(lambda: reports.consumed("expert.assigned"))
    after = await reports.store.documents.load("case-d1")
    assert after.version == before.version  # nothing written
    record = await reports.record("case-d1")
    assert record.draft is not None and record.draft.sections.summary == "Reviewed."


async def test_a_stale_autosave_gets_409_and_never_overwrites(reports: Running) -> None:
    await reports.open_case("case-d2")
    url, ana, ben = "/cases/case-d2/report/draft", reports.auth("ana"), reports.auth("ben")
    first = await reports.client.patch(
        url, json={"summary": "Ana's text"}, headers={**ana, "If-Match": '"1"'}
    )
    assert first.status_code == 200 and first.headers["etag"] == '"2"'
    stale = await reports.client.patch(
        url, json={"summary": "Ben's text"}, headers={**ben, "If-Match": '"1"'}
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_revision"
    assert stale.json()["error"]["current_revision"] == 2
    missing = await reports.client.patch(url, json={"summary": "no revision"}, headers=ben)
    assert missing.status_code == 428

    # Two writers of revision 2 at once: exactly one wins, the other is told.
    racing = await asyncio.gather(
        *(
            reports.client.patch(
                url, json={"summary": f"writer {n}"}, headers={**ana, "If-Match": '"2"'}
            )
            for n in range(4)
        )
    )
    assert sorted(r.status_code for r in racing) == [200, 409, 409, 409]
    (winner,) = [r for r in racing if r.status_code == 200]
    current = (await reports.client.get(url, headers=ana)).json()
    assert current["revision"] == 3
    assert current["sections"]["summary"] == winner.json()["sections"]["summary"]
    by_body = await reports.client.patch(url, json={"revision": 3, "summary": "x"}, headers=ana)
    assert by_body.status_code == 200


async def test_an_invalid_trial_id_is_a_422_naming_the_field(reports: Running) -> None:
    await reports.open_case("case-d3")
    answer = await reports.client.patch(
        "/cases/case-d3/report/draft",
        json={"trials": [{"nct_id": "NCT02724579"}, {"nct_id": "NCT123", "title": "bad"}]},
        headers={**reports.auth("ana"), "If-Match": '"1"'},
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "trials.1.nct_id"
    assert "NCT followed by 8 digits" in error["message"]
    unknown = await reports.client.patch(
        "/cases/case-d3/report/draft",
        json={"answers": {"q7": "An answer to nothing."}},
        headers={**reports.auth("ana"), "If-Match": '"1"'},
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "answers.q7"


async def test_signing_is_refused_while_a_family_question_is_unanswered(reports: Running) -> None:
    await reports.open_case("case-d4")
    record = await reports.record("case-d4")
    answers = factories.complete_sections(record)["answers"]
    del answers["q2"]
    assert (await reports.write_all("case-d4", answers=answers)).status_code == 200
    refused = await reports.client.post("/cases/case-d4/report/sign", headers=reports.auth("ana"))
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "unanswered_questions"
    assert error["unanswered"] == ["q2"]
    assert "q2" in error["message"] and "proton therapy" in error["message"]
    assert (await reports.record("case-d4")).status == "draft"
