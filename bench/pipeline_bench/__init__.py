"""Helpers of the pipeline and push-table benchmarks (bench/pipeline.py, bench/push_table_memory.py)."""
