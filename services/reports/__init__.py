"""Reports: drafting, rendering, signing and report.issued."""
