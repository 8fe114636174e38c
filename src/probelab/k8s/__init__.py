"""The Kubernetes object model: manifests, resources, labels, defaults, validation, patches.

Objects are plain JSON-like dicts, exactly as the API serves them. This package is pure (no I/O
beyond reading manifest files) and is imported by the engine components, never the other way.
"""
