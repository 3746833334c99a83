"""The web dashboard: server-rendered pages over the services, the tier rules of `access.py`."""
