"""The board's fan-out hub: one frame for all, slow subscribers dropped, resume by id."""

from __future__ import annotations

from services.notify.hub import CLOSE, BoardHub


def drain(queue: object) -> list[bytes]:
    frames = []
    while not queue.empty():  # type: ignore[attr-defined]
        frames.append(queue.get_nowait())  # type: ignore[attr-defined]
    return frames


def test_every_subscriber_gets_the_same_frame_object() -> None:
    hub = BoardHub(queue_size=8)
    subscribers = [hub.subscribe() for _ in range(100)]
    hub.publish("case", {"case_id": "c1", "stage": "submitted"})
    frames = [s.queue.get_nowait() for s in subscribers]
    assert all(frame is frames[0] for frame in frames)  # serialized once
    assert frames[0].startswith(b"id: ")
    assert b"event: case\ndata: {" in frames[0] and frames[0].endswith(b"\n\n")


def test_a_slow_subscriber_is_dropped_and_the_others_keep_everything() -> None:
    hub = BoardHub(queue_size=4)
    slow, fast = hub.subscribe(), hub.subscribe()
    for n in range(10):
        hub.publish("case", {"n": n})
        drain(fast.queue) if n % 2 else None
    assert slow.dropped and hub.subscriber_count == 1
    assert drain(slow.queue) == [CLOSE]
    assert not fast.dropped and hub.dropped_total == 1


def test_resume_after_the_last_event_id_seen() -> None:
    hub = BoardHub(queue_size=16, replay_size=100)
    first = hub.subscribe()
    for n in range(5):
        hub.publish("case", {"n": n})
    frames = drain(first.queue)
    seen = frames[1].split(b"\n", 1)[0].removeprefix(b"id: ").decode()
    resumed = hub.subscribe(seen)
    assert drain(resumed.queue) == frames[2:]


def test_an_unknown_or_too_old_id_asks_the_page_to_reload() -> None:
    hub = BoardHub(queue_size=16, replay_size=2)
    for n in range(5):
        hub.publish("case", {"n": n})
    for stale in ("otherepoch-3", "garbage"):
        assert drain(hub.subscribe(stale).queue)[0].startswith(b"event: reset")
    first_id = hub._epoch + "-1"
    assert drain(hub.subscribe(first_id).queue)[0].startswith(b"event: reset")


def test_closing_ends_every_stream() -> None:
    hub = BoardHub()
    subscribers = [hub.subscribe() for _ in range(3)]
    hub.close()
    assert all(drain(s.queue) == [CLOSE] for s in subscribers)
    assert hub.subscriber_count == 0


def test_an_expert_is_sent_only_the_frames_of_their_cases() -> None:
    hub = BoardHub(queue_size=16)
    staff, ana = hub.subscribe(), hub.subscribe(audience="ana")
    hub.publish("case", {"case_id": "c1"}, frozenset({"ana"}))
    hub.publish("case", {"case_id": "c2"}, frozenset({"ben"}))
    hub.publish("case", {"case_id": "c3"})
    assert len(drain(staff.queue)) == 3
    (only,) = drain(ana.queue)
    assert b'"case_id":"c1"' in only
    resumed = hub.subscribe(hub._epoch + "-0", audience="ben")
    assert [b'"case_id":"c2"' in f for f in drain(resumed.queue)] == [True]
