"""`probelab test`: does a workload of anyone's manifests lose requests when it rolls out or
scales in, and why (docs/test.md). Pure decisions in their own modules, I/O in `run.py`."""
