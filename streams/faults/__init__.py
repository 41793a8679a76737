"""Fault injection: a seeded workload, a pipeline with killable processes, and the fault runner."""
