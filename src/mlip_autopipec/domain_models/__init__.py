"""Typed data that crosses module and rule boundaries."""
