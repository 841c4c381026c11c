"""Who reads and writes what: experts only while assigned, families and physicians only their
own case's issued report, intake staff everything, admin nothing (no clinical content);
follow-up questions after the report."""

from __future__ import annotations

import pytest

from shared.contracts import AssignmentUpdated
from shared.contracts.common import Actor
from tests.integration.reports.conftest import Running, event
from tests.support import eventually
from tests.unit.reports import factories
from tests.unit.reports.factories import LEAD

pytestmark = pytest.mark.real


async def test_the_access_matrix_of_a_draft_and_an_issued_report(reports: Running) -> None:
    await reports.open_case("case-a1")
    await reports.open_case("case-a2")
    get = reports.client.get
    draft, report = "/cases/case-a1/report/draft", "/cases/case-a1/report"
    pdf = "/cases/case-a1/report/versions/1/report.pdf"

    assert (await get(draft)).status_code == 401
    assert (await get(draft, headers=reports.auth("zoe"))).status_code == 404  # not assigned
    assert (await get(draft, headers=reports.auth("ben"))).status_code == 200  # board member
    assert (await get(draft, headers=reports.staff)).status_code == 200
    assert (await get(draft, headers=reports.family("case-a1"))).status_code == 403
    assert (await get(report, headers=reports.family("case-a1"))).status_code == 404  # not yet
    assert (await get(draft, headers=reports.auth("p", "partner"))).status_code == 403
    admin = reports.auth("admin-1", "admin")
    assert (await get(draft, headers=admin)).status_code == 403
    staff_write = await reports.client.patch(
        draft, json={"summary": "x"}, headers={**reports.staff, "If-Match": '"1"'}
    )
    assert staff_write.status_code == 403

    assert (await reports.write_all("case-a1")).status_code == 200
    signed = await reports.client.post("/cases/case-a1/report/sign", headers=reports.auth("ana"))
    assert signed.status_code == 201, signed.text

    assert (await get(pdf, headers=reports.family("case-a1"))).status_code == 200
    physician = reports.auth("dr-lee", "referring-physician", ["case-a1"])
    assert (await get(pdf, headers=physician)).status_code == 200
    assert (await get(pdf, headers=reports.family("case-a2"))).status_code == 404
    assert (await get(report, headers=reports.family("case-a2"))).status_code == 404
    assert (await get(pdf, headers=reports.auth("zoe"))).status_code == 404
    assert (await get(pdf, headers=reports.staff)).status_code == 200
    for path in (pdf, report, draft, "/cases/case-a1/report/follow-ups", "/reports"):
        refused = await get(path, headers=admin)
        assert refused.status_code == 403, path
        assert refused.json()["error"]["code"] == "forbidden"
    assert (
        await get("/cases/case-a1/report/versions/9/report.pdf", headers=reports.staff)
    ).status_code == 404

    listed = await get("/reports", headers=reports.family("case-a1"))
    assert [r["case_id"] for r in listed.json()] == ["case-a1"]
    mine = await get("/reports", headers=reports.auth("ana"))
    assert sorted(r["case_id"] for r in mine.json()) == ["case-a1", "case-a2"]
    assert (await get("/reports", headers=reports.auth("zoe"))).json() == []


async def test_a_reassigned_expert_loses_the_report(reports: Running) -> None:
    await reports.open_case("case-a3")
    taken = AssignmentUpdated(
        case_id="case-a3",
        assignment_id="asg-2",
        change="reassigned",
        expert=LEAD,
        actor=Actor(subject="staff-1", role="intake-staff"),
    )
    await reports.publish(event(taken))

    async def gone() -> bool:
        answer = await reports.client.get(
            "/cases/case-a3/report/draft", headers=reports.auth("ana")
        )
        return answer.status_code == 404

    await eventually(gone)
    assert (await reports.record("case-a3")).draft is not None  # the text stays for the next


async def test_follow_up_questions_are_asked_seen_and_answered(reports: Running) -> None:
    await reports.open_case("case-a4")
    url = "/cases/case-a4/report/follow-ups"
    family = reports.family("case-a4")
    early = await reports.client.post(url, json={"question": "When?"}, headers=family)
    assert early.status_code == 404  # nothing issued to ask about yet
    assert (await reports.write_all("case-a4")).status_code == 200
    signed = await reports.client.post("/cases/case-a4/report/sign", headers=reports.auth("ana"))
    assert signed.status_code == 201

    asked = await reports.client.post(
        url, json={"question": "Can she go back to school during radiation?"}, headers=family
    )
    assert asked.status_code == 201, asked.text
    (follow_up,) = asked.json()["follow_ups"]
    other = await reports.client.post(
        url, json={"question": "?"}, headers=reports.family("case-a1")
    )
    assert other.status_code == 404
    seen = await reports.client.get(url, headers=reports.auth("ben"))
    assert seen.json()["follow_ups"][0]["question"].startswith("Can she go back")
    answer_url = f"{url}/{follow_up['follow_up_id']}/answer"
    by_family = await reports.client.post(answer_url, json={"answer": "yes"}, headers=family)
    assert by_family.status_code == 403
    answered = await reports.client.post(
        answer_url, json={"answer": "Yes, on most days."}, headers=reports.auth("ben")
    )
    assert answered.status_code == 200, answered.text
    read = (await reports.client.get(url, headers=family)).json()
    assert read["follow_ups"][0]["answer"] == "Yes, on most days."


async def test_an_experts_list_is_one_exact_page_of_known_reports(reports: Running) -> None:
    for case_id in ("case-l1", "case-l2", "case-l3"):
        await reports.open_case(case_id)
    # Assigned before case.submitted arrived: not a report to list yet.
    await reports.publish(event(factories.expert_assigned("case-l0")))

    async def assigned() -> bool:
        return await reports.store.get("case-l0") is not None

    await eventually(assigned)

    async def listed(headers: dict[str, str], limit: int) -> list[str]:
        answer = await reports.client.get(f"/reports?limit={limit}", headers=headers)
        assert answer.status_code == 200, answer.text
        return [r["case_id"] for r in answer.json()]

    assert await listed(reports.auth("ana"), 2) == ["case-l1", "case-l2"]
    assert await listed(reports.auth("ana"), 10) == ["case-l1", "case-l2", "case-l3"]
    assert await listed(reports.staff, 1) == ["case-l1"]
    scoped = reports.auth("ana", case_ids=["case-l0", "case-l3"])
    assert await listed(scoped, 10) == ["case-l3"]
