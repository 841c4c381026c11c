"""The platform's services; each is started with `python -m services.<name>`."""
