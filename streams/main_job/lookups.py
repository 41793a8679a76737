"""Lookup server of a run: serves the bundled lookup responses to the worker on 127.0.0.1."""

from __future__ import annotations

import logging
from pathlib import Path

from streams.lookups.fixture_server import FixtureData, FixtureServer
from streams.samples import lookups_path

logger = logging.getLogger(__name__)


def lookup_server(data_dir: Path | None = None) -> FixtureServer:
    """Return an unstarted fixture server on a free port of 127.0.0.1 for ``data_dir``.

    The default folder is `streams/samples/lookups/`, which build.py writes from the
    Treeherder sample data. A lookup without a response in the folder gets HTTP 404, so the
    worker dead-letters that push's enrichment as `lookup-failed`.
    """
    folder = data_dir or lookups_path()
    if not folder.is_dir():
        raise FileNotFoundError(f"lookup responses folder {folder} not found; run `python -m streams.samples.build`")

    data = FixtureData.load(folder)
    logger.info(
        "Loaded lookup responses from %s: %d json-pushes pushes, %d GitHub compares, %d pull requests",
        folder,
        len(data.pushes),
        len(data.compares),
        len(data.pull_request_commits),
    )
    return FixtureServer(data, port=0)
