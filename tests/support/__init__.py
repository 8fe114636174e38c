"""What the tests share: fakes, real-process harnesses, builders and waiting.

A package rather than loose modules next to the tests, so one `from support.x import y` names
where a helper lives; pytest's default "prepend" import mode puts tests/ on sys.path for the
test modules (tests/ has no __init__.py), which is all the import needs.
"""
