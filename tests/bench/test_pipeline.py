"""Unit tests of the pipeline bench's command line: which worker counts measure latency."""

from __future__ import annotations

import pytest

from bench.pipeline import latency_worker_counts, parse_args


def test_latency_workers_default_first_count() -> None:
    args = parse_args(["--workers", "2", "1"])

    assert args.latency_workers == [2]


def test_latency_workers_chosen_count() -> None:
    args = parse_args(["--workers", "1", "2", "--latency-workers", "2"])

    assert args.latency_workers == [2]


def test_latency_workers_several_counts() -> None:
    args = parse_args(["--workers", "1", "2", "--latency-workers", "1", "2"])

    assert args.latency_workers == [1, 2]


def test_latency_workers_unknown_count_rejected() -> None:
    with pytest.raises(ValueError, match="--latency-workers 3 is missing from --workers 1 2"):
        latency_worker_counts([1, 2], [3, 2])


def test_latency_workers_unknown_count_exits(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        parse_args(["--workers", "1", "--latency-workers", "2"])

    assert raised.value.code == 2
    assert "Add each latency worker count to --workers" in capsys.readouterr().err
