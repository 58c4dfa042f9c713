"""sampling: see docs/architecture.md."""
