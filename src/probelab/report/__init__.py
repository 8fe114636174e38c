"""Reports of demo runs: collect (scenario) -> compute (`summary`) -> render (text, JSON, HTML)."""
