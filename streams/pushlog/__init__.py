"""Fallback that polls the hg pushlog of active repositories and emits pushes Pulse missed."""
