"""The demo runner: deploy, load, act, observe — only through the official `kubernetes` client,
so the same code runs against the local engine and against any real cluster."""
