"""Assignment: the expert roster, matching, offers and expert.assigned.

Read top-down: `domain/` holds the rules (roster, matching, the offer state machine, the
business-day clock, what consumed events mean), `handlers.py` one function per event and
command, `store.py` the versioned case documents and the roster, `api.py` and `roster_api.py`
the routes (with `deps.py` for who may call them), `scanner.py` the background scan for expired
offers and service-level points, and `__main__.py` the wiring.
"""
