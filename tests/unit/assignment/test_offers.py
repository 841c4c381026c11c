"""The offer state machine: open, accepted, declined, expired, withdrawn; staff choices."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.assignment.domain import lifecycle, offers
from services.assignment.domain.errors import Conflict, NotFound
from services.assignment.domain.matching import chosen_candidate
from shared.contracts import AssignmentUpdated, ExpertAssigned
from tests.unit.assignment.factories import NOW, POLICY, expert, ready_record, roster, terms
from tests.unit.assignment.transitions import (
    ROSTER,
    STAFF,
    accepted_by_ana,
    changes,
    clock,
    match,
    offered,
    open_offer,
    update,
)


def test_the_best_candidate_gets_an_offer_that_expires() -> None:
    record = offered()
    offer = record.open_offer
    assert record.stage == "offered" and offer is not None
    assert offer.lead.expert_id == "ana"
    assert offer.expires_at == NOW + timedelta(hours=24)
    assert record.load_expert_ids() == ["ana"]
    event = match(lifecycle.settle(ready_record(), POLICY, terms())).events[0]
    assert isinstance(event, AssignmentUpdated)
    assert event.change == "offered" and event.offer_expires_at == offer.expires_at
    assert event.expert is not None and event.expert.expert_id == "ana"
    assert "diagnosis fits: medulloblastoma" in event.reasons


def test_accepting_assigns_the_case_and_publishes_expert_assigned() -> None:
    record = offered()
    offer = record.open_offer
    assert offer is not None
    accepted = offers.accept(
        record, offer.offer_id, terms(NOW + timedelta(hours=1)), expert_id="ana"
    )
    assert accepted.record.stage == "assigned"
    assert [o.status for o in accepted.record.offers] == ["accepted"]
    (event,) = accepted.events
    assert isinstance(event, ExpertAssigned)
    assert event.lead.expert_id == "ana" and event.team == [] and event.urgency == "routine"
    assert event.due_at == clock(record).due_at
    assert accepted.record.assigned_keys() == ["expert:ana"]


def test_only_the_expert_offered_may_answer_and_only_while_the_offer_is_open() -> None:
    record = offered()
    offer_id = open_offer(record).offer_id
    with pytest.raises(NotFound):
        offers.accept(record, offer_id, terms(), expert_id="ben")
    with pytest.raises(NotFound):
        offers.accept(record, "no-such-offer", terms(), expert_id="ana")
    accepted = offers.accept(record, offer_id, terms(), expert_id="ana").record
    # Accepting again (a retry after a lost answer) changes nothing and is no error.
    assert offers.accept(accepted, offer_id, terms(), expert_id="ana") is None
    with pytest.raises(NotFound):
        offers.accept(accepted, offer_id, terms(), expert_id="ben")
    with pytest.raises(Conflict) as changed_mind:
        offers.decline(accepted, offer_id, terms(), expert_id="ana", reason="too late")
    assert changed_mind.value.code == "offer_not_open"
    with pytest.raises(Conflict) as late:
        offers.accept(record, offer_id, terms(NOW + timedelta(hours=25)), expert_id="ana")
    assert late.value.code == "offer_not_open"


def test_declining_moves_the_case_to_the_next_best() -> None:
    record = offered()
    offer_id = open_offer(record).offer_id
    declined = offers.decline(record, offer_id, terms(), expert_id="ana", reason="on call")
    assert changes(declined) == ["declined"]
    assert update(declined, 0).reasons == ["declined: on call"]
    following = match(declined)
    assert changes(following) == ["declined", "offered"]
    assert open_offer(following.record).lead.expert_id == "ben"
    assert following.record.tried_keys == ["expert:ana"]


def test_an_offer_expires_only_after_its_time_and_then_the_next_best_is_offered() -> None:
    record = offered()
    offer_id = open_offer(record).offer_id
    assert offers.expire(record, offer_id, terms(NOW + timedelta(hours=23))) is None
    expired = offers.expire(record, offer_id, terms(NOW + timedelta(hours=24)))
    assert expired is not None and changes(expired) == ["offer-expired"]
    assert changes(match(expired)) == ["offer-expired", "offered"]
    assert offers.expire(expired.record, offer_id, terms(NOW + timedelta(days=2))) is None


def test_when_nobody_is_left_staff_are_told_why() -> None:
    record = offered()
    snapshot = roster(expert("ana", subspecialties=["medulloblastoma"]))
    offer_id = open_offer(record).offer_id
    declined = offers.decline(record, offer_id, terms(), expert_id="ana", reason="busy")
    nobody = match(declined, snapshot)
    assert nobody.record.stage == "unassigned"
    assert changes(nobody) == ["declined", "no-expert-available"]
    assert update(nobody, 1).reasons == [
        "no eligible expert or board left",
        "excluded 1: declined or did not answer",
    ]


def test_staff_reassign_an_assigned_case_to_another_expert() -> None:
    record = offered()
    offer_id = open_offer(record).offer_id
    assigned = offers.accept(record, offer_id, terms(), expert_id="ana").record
    request = lifecycle.matching_request(assigned, POLICY.calendar, NOW)
    chosen = chosen_candidate(request, ROSTER, expert_id="ben")
    moved = offers.staff_offer(assigned, chosen, terms(), actor=STAFF, note="ana is away")
    assert changes(moved) == ["reassigned", "offered"]
    assert update(moved, 0).expert == open_offer(record).lead  # ana, who had it
    assert moved.record.assignment is None
    assert moved.record.assignment_id != assigned.assignment_id
    assert open_offer(moved.record).chosen_by == "staff"
    assert update(moved, 1).actor == STAFF


def test_staff_cannot_choose_someone_from_the_referring_institution() -> None:
    record = offered()
    request = lifecycle.matching_request(record, POLICY.calendar, NOW)
    with pytest.raises(Conflict) as refused:
        chosen = chosen_candidate(request, ROSTER, expert_id="conflicted")
        offers.staff_offer(record, chosen, terms(), actor=STAFF, note=None)
    assert refused.value.code == "conflict_of_interest"


def test_sending_to_a_board_offers_it_to_the_lead_and_accepting_assigns_the_team() -> None:
    record = offered()
    request = lifecycle.matching_request(record, POLICY.calendar, NOW)
    chosen = chosen_candidate(request, ROSTER, board_id="tumor")
    sent = offers.staff_offer(record, chosen, terms(), actor=STAFF, note=None)
    assert changes(sent) == ["reassigned", "sent-to-board", "offered"]
    offer = sent.record.open_offer
    assert offer is not None and offer.board_id == "tumor" and offer.lead.expert_id == "ana"
    assert sent.record.load_expert_ids() == ["ana", "carla"]
    (event,) = offers.accept(sent.record, offer.offer_id, terms(), expert_id="ana").events
    assert isinstance(event, ExpertAssigned)
    assert event.board_id == "tumor" and [m.expert_id for m in event.team] == ["ana", "carla"]


def test_staff_commands_need_a_ready_open_case() -> None:
    with pytest.raises(Conflict) as waiting:
        offers.rematch(ready_record(), terms(), actor=STAFF)
    assert waiting.value.code == "case_not_ready"
    record = offered()
    assigned = accepted_by_ana(record)
    with pytest.raises(Conflict) as busy:
        offers.rematch(assigned, terms(), actor=STAFF)
    assert busy.value.code == "already_assigned"
    closed = assigned.model_copy(update={"stage": "cancelled"})
    with pytest.raises(Conflict) as gone:
        offers.rematch(closed, terms(), actor=STAFF)
    assert gone.value.code == "case_closed"


def test_rematch_withdraws_the_open_offer_and_starts_over() -> None:
    record = offered()
    again = match(offers.rematch(record, terms(), actor=STAFF))
    assert changes(again) == ["reassigned", "offered"]
    statuses = [o.status for o in again.record.offers]
    assert statuses == ["withdrawn", "open"]
