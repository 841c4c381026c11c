"""The notify service's rules: the case timeline, who to tell, and how deliveries are retried
and signed. No I/O."""
