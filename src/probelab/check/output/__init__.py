"""Renderers of a check result: a rich table for people, JSON, SARIF 2.1.0 and GitHub
workflow annotations for machines. Each takes the findings and the timing model and returns
text; none decides anything."""
