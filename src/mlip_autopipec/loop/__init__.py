"""loop: see docs/architecture.md."""
