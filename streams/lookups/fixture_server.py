"""Local HTTP server that serves Taskcluster, json-pushes and GitHub lookups from sample files.

It binds to 127.0.0.1 only. Tests start it in-process with ``FixtureServer``; for a demo run
``python -m streams.lookups.fixture_server --data-dir tests/data/treeherder --port 8765`` and
set LOOKUP_BASE_URL_OVERRIDE=http://127.0.0.1:8765.

Files read from the data folder, each optional:

- ``taskcluster_tasks.json``: task definitions keyed by task id.
- ``taskcluster_artifacts.json``: artifact lists keyed by ``<taskId>/<runId>``; a run that
  is not listed has no artifacts.
- ``hg_push_commits.json``, ``hg_pushlog.json``: json-pushes responses; their pushes are
  merged and served for every repository path.
- ``github_push_compare.json``: GitHub compare responses, matched on their ``url`` field.
- ``github_pr.json`` with ``github_pr_commits.json``: the commits of that pull request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"

DEFAULT_PUSH_COUNT = 10
"""Pushes that json-pushes returns without startID, as hg.mozilla.org does."""

FaultKind = Literal["timeout", "status", "malformed"]

_COMPARE_URL = re.compile(r"/repos/([^/]+)/([^/]+)/compare/([^/.]+)\.\.\.([^/.]+)$")


@dataclass
class Fault:
    """Failure injected into the responses for one path.

    ``timeout`` delays the response by ``delay`` seconds, ``status`` returns HTTP
    ``status`` and ``malformed`` returns 200 with a body that is not JSON. ``times`` is how
    many requests fail before the path responds normally again; None means every request.
    """

    kind: FaultKind
    times: int | None = None
    status: int = 500
    delay: float = 30.0

    def take(self) -> bool:
        """Count one request; return True while the fault still applies."""
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass(frozen=True)
class RecordedRequest:
    """Path, query and headers of one request the server received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FixtureData:
    """Responses the server returns, loaded from a data folder or set by tests."""

    tasks: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pushes: dict[int, dict[str, Any]] = field(default_factory=dict)
    compares: dict[tuple[str, str, str, str], Any] = field(default_factory=dict)
    pull_request_commits: dict[tuple[str, str, int], list[Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, data_dir: Path) -> FixtureData:
        """Read every known file that exists in ``data_dir``."""
        data = cls()

        data.tasks = dict(_read(data_dir, "taskcluster_tasks.json") or {})
        data.artifacts = dict(_read(data_dir, "taskcluster_artifacts.json") or {})

        for name in ("hg_push_commits.json", "hg_pushlog.json"):
            response = _read(data_dir, name) or {}
            for push_id, push in response.get("pushes", {}).items():
                data.pushes[int(push_id)] = push

        for compare in _read(data_dir, "github_push_compare.json") or []:
            match = _COMPARE_URL.search(compare.get("url", ""))
            if match:
                data.compares[match.groups()] = compare  # type: ignore[index]

        pull_request = _read(data_dir, "github_pr.json")
        commits = _read(data_dir, "github_pr_commits.json")
        if pull_request and commits is not None:
            key = (
                pull_request["organization"],
                pull_request["repository"],
                int(pull_request["details"]["event.pullNumber"]),
            )
            data.pull_request_commits[key] = commits

        return data


def _read(data_dir: Path, name: str) -> Any:
    path = data_dir / name
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


class FixtureServer:
    """aiohttp server on 127.0.0.1 with fault injection and a log of received requests."""

    def __init__(
        self,
        data: FixtureData,
        *,
        port: int = 0,
        artifact_page_size: int = 1000,
        github_page_size: int = 30,
    ) -> None:
        self.data = data
        self.port = port
        self.artifact_page_size = artifact_page_size
        self.github_page_size = github_page_size
        self.faults: dict[str, Fault] = {}
        self.requests: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    @property
    def url(self) -> str:
        """Base URL of the running server, without a trailing slash."""
        return f"http://{HOST}:{self.port}"

    def add_fault(self, path: str, kind: FaultKind, **options: Any) -> Fault:
        """Inject a fault for requests to ``path`` (the path alone, without the query)."""
        fault = Fault(kind, **options)
        self.faults[path] = fault
        return fault

    def count(self, path: str) -> int:
        """Return how many requests reached ``path``."""
        return sum(1 for request in self.requests if request.path == path)

    async def start(self) -> str:
        """Start listening and return the base URL; port 0 picks a free port."""
        app = web.Application()
        app.router.add_get("/api/queue/v1/task/{task_id}", self._task)
        app.router.add_get("/api/queue/v1/task/{task_id}/runs/{run_id}/artifacts", self._artifacts)
        app.router.add_get("/repos/{owner}/{repo}/compare/{spec}", self._compare)
        app.router.add_get("/repos/{owner}/{repo}/pulls/{number}/commits", self._pull_commits)
        app.router.add_get("/{repository:.+}/json-pushes", self._json_pushes)
        app.router.add_get("/{repository:.+}/json-pushes/", self._json_pushes)

        self._closing.clear()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.port)
        await site.start()

        self.port = self._runner.addresses[0][1]
        logger.info("fixture server listening on %s", self.url)
        return self.url

    async def stop(self) -> None:
        """Stop the server, releasing responses held by a timeout fault."""
        self._closing.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            logger.info("fixture server on %s stopped", self.url)

    async def __aenter__(self) -> FixtureServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _fault_response(self, request: web.Request) -> web.StreamResponse | None:
        self.requests.append(
            RecordedRequest(request.path, dict(request.query), dict(request.headers))
        )

        fault = self.faults.get(request.path)
        if fault is None or not fault.take():
            return None

        if fault.kind == "timeout":
            try:
                await asyncio.wait_for(self._closing.wait(), fault.delay)
            except TimeoutError:
                pass
            return web.json_response({"message": "held past the client timeout"})
        if fault.kind == "status":
            return web.json_response({"message": "injected failure"}, status=fault.status)
        return web.Response(body=b'{"truncated": ', content_type="application/json")

    async def _task(self, request: web.Request) -> web.StreamResponse:
        faulted = await self._fault_response(request)
        if faulted is not None:
            return faulted

        task_id = request.match_info["task_id"]
        definition = self.data.tasks.get(task_id)
        if definition is None:
            return _not_found(f"task {task_id} not found")
        return web.json_response(definition)

    async def _artifacts(self, request: web.Request) -> web.StreamResponse:
        faulted = await self._fault_response(request)
        if faulted is not None:
            return faulted

        key = f"{request.match_info['task_id']}/{request.match_info['run_id']}"
        artifacts = self.data.artifacts.get(key, [])

        token = request.query.get("continuationToken", "0")
        if not token.isdigit():
            return web.json_response({"message": "invalid continuationToken"}, status=400)
        start = int(token)
        end = start + self.artifact_page_size

        page: dict[str, Any] = {"artifacts": artifacts[start:end]}
        if end < len(artifacts):
            page["continuationToken"] = str(end)
        return web.json_response(page)

    async def _compare(self, request: web.Request) -> web.StreamResponse:
        faulted = await self._fault_response(request)
        if faulted is not None:
            return faulted

        base, _, head = request.match_info["spec"].partition("...")
        key = (request.match_info["owner"], request.match_info["repo"], base, head)
        compare = self.data.compares.get(key)
        if compare is None:
            return _not_found(f"no compare for {base}...{head}")
        return web.json_response(compare)

    async def _pull_commits(self, request: web.Request) -> web.StreamResponse:
        faulted = await self._fault_response(request)
        if faulted is not None:
            return faulted

        number = request.match_info["number"]
        owner, repo = request.match_info["owner"], request.match_info["repo"]
        key = (owner, repo, int(number) if number.isdigit() else -1)
        commits = self.data.pull_request_commits.get(key)
        if commits is None:
            return _not_found(f"pull request {number} not found")

        page = int(request.query.get("page", "1"))
        size = self.github_page_size
        last_page = max(1, -(-len(commits) // size))
        body = commits[(page - 1) * size : page * size]

        headers: dict[str, str] = {}
        if page < last_page:
            base = f"{self.url}{request.path}"
            headers["Link"] = (
                f'<{base}?page={page + 1}>; rel="next", <{base}?page={last_page}>; rel="last"'
            )
        return web.json_response(body, headers=headers)

    async def _json_pushes(self, request: web.Request) -> web.StreamResponse:
        faulted = await self._fault_response(request)
        if faulted is not None:
            return faulted

        ids = sorted(self.data.pushes)
        start = request.query.get("startID")
        end = request.query.get("endID")
        if start is not None:
            ids = [push_id for push_id in ids if push_id > int(start)]
        if end is not None:
            ids = [push_id for push_id in ids if push_id <= int(end)]
        if start is None and end is None:
            ids = ids[-DEFAULT_PUSH_COUNT:]

        full = request.query.get("full") == "1"
        tips_only = request.query.get("tipsonly") == "1"
        pushes = {
            str(push_id): _push_view(self.data.pushes[push_id], full, tips_only) for push_id in ids
        }

        return web.json_response({"lastpushid": max(self.data.pushes, default=0), "pushes": pushes})


def _push_view(push: Mapping[str, Any], full: bool, tips_only: bool) -> dict[str, Any]:
    changesets = list(push.get("changesets", []))
    if tips_only:
        changesets = changesets[-1:]
    if not full:
        changesets = [changeset["node"] for changeset in changesets]
    return {**push, "changesets": changesets}


def _not_found(message: str) -> web.Response:
    return web.json_response({"code": "ResourceNotFound", "message": message}, status=404)


async def _serve(data_dir: Path, port: int) -> None:
    server = FixtureServer(FixtureData.load(data_dir), port=port)
    await server.start()
    print(
        f"serving {data_dir} on {server.url}; set LOOKUP_BASE_URL_OVERRIDE={server.url}",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve a data folder until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path("tests/data/treeherder"),
        help="folder of Treeherder-style sample files (default: tests/data/treeherder)",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one (default)"
    )
    args = parser.parse_args(argv)

    if not args.data_dir.is_dir():
        parser.error(f"data folder not found: {args.data_dir}")

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(_serve(args.data_dir, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
