"""Pure rules of the assignment service: the roster, matching, the offer state machine and the
business-day service-level clock. Nothing here does I/O."""
