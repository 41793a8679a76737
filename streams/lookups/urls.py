"""URLs of the upstream lookups and their rewriting to the configured base URLs."""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

from streams.lookups.settings import DEFAULT_GITHUB_API_URL, LookupSettings


def _join(base: str, path: str) -> str:
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


def _replace_origin(url: str, base: str) -> str:
    """Keep the path and query of ``url`` and put them below ``base``."""
    parts = urlsplit(url)
    rewritten = _join(base, parts.path)
    if parts.query:
        rewritten += f"?{parts.query}"
    return rewritten


def taskcluster_base(root_url: str, settings: LookupSettings) -> str:
    """Return the base that Taskcluster requests for ``root_url`` go to."""
    return settings.taskcluster_root_url_override or root_url.rstrip("/")


def task_definition_url(root_url: str, task_id: str, settings: LookupSettings) -> str:
    """Return the queue URL of a task definition."""
    return _join(taskcluster_base(root_url, settings), f"api/queue/v1/task/{quote(task_id)}")


def artifacts_url(
    root_url: str,
    task_id: str,
    run_id: int,
    settings: LookupSettings,
    continuation_token: str | None = None,
) -> str:
    """Return the queue URL of one page of a run's artifact list."""
    path = f"api/queue/v1/task/{quote(task_id)}/runs/{run_id}/artifacts"
    url = _join(taskcluster_base(root_url, settings), path)
    if continuation_token:
        url += "?" + urlencode({"continuationToken": continuation_token})
    return url


def hg_url(url: str, settings: LookupSettings) -> str:
    """Rewrite an hg.mozilla.org URL to HG_BASE_URL_OVERRIDE when that is set."""
    if not settings.hg_base_url_override:
        return url
    return _replace_origin(url, settings.hg_base_url_override)


def json_pushes_url(repo_url: str, start_id: int | None = None) -> str:
    """Return the json-pushes URL (version 2, full) of a repository.

    Without ``start_id`` hg.mozilla.org returns the last 10 pushes. With it, it returns every
    push whose id is greater than ``start_id``.
    """
    query = {"version": "2", "full": "1"}
    if start_id is not None:
        query["startID"] = str(start_id)
    return f"{repo_url.rstrip('/')}/json-pushes?{urlencode(query)}"


def json_pushes_range_url(repo_url: str, push_id: int, full: bool = True) -> str:
    """Return the json-pushes URL that lists exactly the push ``push_id``."""
    query = {"version": "2"}
    if full:
        query["full"] = "1"
    query.update({"startID": str(push_id - 1), "endID": str(push_id)})
    return f"{repo_url.rstrip('/')}/json-pushes?{urlencode(query)}"


def github_url(url: str, settings: LookupSettings) -> str:
    """Move a URL below the public GitHub API to GITHUB_API_URL."""
    if url.startswith(DEFAULT_GITHUB_API_URL + "/"):
        return _join(settings.github_api_url, url[len(DEFAULT_GITHUB_API_URL) :])
    return url


def github_compare_url(
    owner: str, repo: str, base: str, head: str, settings: LookupSettings
) -> str:
    """Return the GitHub URL that compares ``base`` with ``head``."""
    path = f"repos/{quote(owner)}/{quote(repo)}/compare/{quote(base)}...{quote(head)}"
    return _join(settings.github_api_url, path)


def github_pull_commits_url(owner: str, repo: str, number: int, settings: LookupSettings) -> str:
    """Return the first page URL of a pull request's commit list."""
    path = f"repos/{quote(owner)}/{quote(repo)}/pulls/{number}/commits"
    return _join(settings.github_api_url, path)
