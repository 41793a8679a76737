"""Benchmark pulse-job validation: the compiled validator against jsonschema's Draft7Validator.

Run: .venv/bin/python bench/validation.py [--jobs N] [--reference-jobs N] [--invalid-percent P]

Jobs are copies of the Treeherder sample jobs with distinct task ids and revisions; a share
of them is made invalid. Both validators run in this one process, one after the other, on
one core.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.validation.validator import get_validator  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "treeherder" / "job_data.json"


def make_jobs(count: int, invalid_percent: float, seed: int) -> list[dict[str, Any]]:
    """Build ``count`` corpus-derived jobs, about ``invalid_percent`` of them invalid."""
    rng = random.Random(seed)
    templates = json.loads(CORPUS.read_text(encoding="utf-8"))
    jobs = []

    for index in range(count):
        job = copy.deepcopy(templates[index % len(templates)])
        job["taskId"] = f"{uuid.UUID(int=rng.getrandbits(128))}/{rng.randrange(3)}"
        job["origin"] = {"project": "autoland", "revision": f"{rng.getrandbits(160):040x}"}

        if rng.random() * 100 < invalid_percent:
            job["display"]["jobName"] = "n" * 200
        jobs.append(job)

    return jobs


def rate(check, jobs: list[dict[str, Any]]) -> tuple[float, int]:
    """Run ``check`` on every job; return jobs per second and the number judged invalid."""
    invalid = 0
    start = time.perf_counter()
    for job in jobs:
        if not check(job):
            invalid += 1
    elapsed = time.perf_counter() - start
    return len(jobs) / elapsed, invalid


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print jobs/s for both validators and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000,
                        help="jobs for the compiled validator (default 100000)")
    parser.add_argument("--reference-jobs", type=int, default=10_000,
                        help="jobs for jsonschema's Draft7Validator (default 10000)")
    parser.add_argument("--invalid-percent", type=float, default=2.0,
                        help="share of invalid jobs, in percent (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)

    jobs = make_jobs(args.jobs, args.invalid_percent, args.seed)
    reference_jobs = jobs[: args.reference_jobs]

    validator = get_validator("pulse-job")
    rate(validator.is_valid, jobs[:1000])  # warm-up

    compiled_rate, compiled_invalid = rate(validator.is_valid, jobs)
    reference_rate, reference_invalid = rate(validator.reference.is_valid, reference_jobs)
    same_verdicts = sum(
        validator.is_valid(job) == validator.reference.is_valid(job) for job in reference_jobs
    )

    print(f"python {sys.version.split()[0]}, {len(jobs)} jobs, {args.invalid_percent}% invalid")
    print(f"compiled (fastjsonschema): {compiled_rate:12,.0f} jobs/s  "
          f"({compiled_invalid} invalid of {len(jobs)})")
    print(f"jsonschema Draft7Validator: {reference_rate:11,.0f} jobs/s  "
          f"({reference_invalid} invalid of {len(reference_jobs)})")
    print(f"ratio: {compiled_rate / reference_rate:.1f}x")
    print(f"same verdict on {same_verdicts} of {len(reference_jobs)} jobs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
