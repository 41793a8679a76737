"""Compiled JSON Schema validators with structured error detail."""
