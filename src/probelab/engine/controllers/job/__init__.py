"""The Job controller: `plan` (pure accounting and decisions) and `controller` (the loop)."""
