"""`python -m probelab` runs the CLI (the engine starts pods this way)."""

from probelab.cli import main

main()
