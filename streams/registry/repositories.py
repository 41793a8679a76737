"""Repository registry: the repositories ingested and how push URLs and branches map to them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from streams.errors import ConfigurationError, RejectedMessage, RejectReason

logger = logging.getLogger(__name__)

REGISTRY_ENV = "REPOSITORY_REGISTRY"
"""Environment variable naming a registry YAML file that replaces the shipped default.

The caller reads it and passes the path to ``RepositoryRegistry.load``; unset means the
``repositories.yml`` shipped next to this module."""

DvcsType = Literal["hg", "git"]

_DVCS_TYPES: tuple[str, ...] = ("hg", "git")


def normalize_url(url: str) -> str:
    """Strip trailing slashes and one trailing ``.git`` so clone and web URLs compare equal."""
    trimmed = url.rstrip("/")
    if trimmed.endswith(".git"):
        trimmed = trimmed[: -len(".git")].rstrip("/")
    return trimmed


def is_wildcard(rule: str) -> bool:
    """Tell whether a branch rule is a prefix wildcard such as ``*`` or ``releases/*``."""
    return rule.endswith("*")


@dataclass(frozen=True)
class Repository:
    """One repository as the registry describes it."""

    name: str
    url: str
    dvcs_type: DvcsType
    branch_rules: tuple[str, ...] = ()
    accepts_pull_requests: bool = False
    active: bool = True
    tc_root_url: str = "https://firefox-ci-tc.services.mozilla.com"

    @property
    def normalized_url(self) -> str:
        """URL with trailing ``/`` and ``.git`` removed, used for every lookup."""
        return normalize_url(self.url)

    @property
    def has_wildcard_rule(self) -> bool:
        """True when at least one branch rule ends with ``*``."""
        return any(is_wildcard(rule) for rule in self.branch_rules)

    def exact_rule_matches(self, branch: str) -> bool:
        """Tell whether a non-wildcard rule names ``branch`` exactly."""
        return any(rule == branch for rule in self.branch_rules if not is_wildcard(rule))

    def wildcard_rules_matching(self, branch: str) -> list[str]:
        """List the wildcard rules whose prefix ``branch`` starts with."""
        return [
            rule for rule in self.branch_rules if is_wildcard(rule) and branch.startswith(rule[:-1])
        ]


class RepositoryRegistry:
    """Immutable set of repositories with the lookups the push and job transforms need."""

    def __init__(self, repositories: Iterable[Repository]) -> None:
        self._repositories: tuple[Repository, ...] = tuple(repositories)
        _check_consistency(self._repositories)

        self._by_name: dict[str, Repository] = {repo.name: repo for repo in self._repositories}
        self._by_url: dict[str, list[Repository]] = {}
        for repo in self._repositories:
            self._by_url.setdefault(repo.normalized_url, []).append(repo)

    @classmethod
    def load(cls, path: str | Path | None = None) -> RepositoryRegistry:
        """Read a registry YAML file, or the shipped default when ``path`` is None.

        Raises ConfigurationError (variable ``REPOSITORY_REGISTRY``) when the file is missing
        or malformed.
        """
        try:
            if path is None:
                source = "streams/registry/repositories.yml"
                text = resources.files(__package__).joinpath("repositories.yml").read_text("utf-8")
            else:
                source = str(path)
                text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigurationError(REGISTRY_ENV, f"cannot read {source}: {error}") from None

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigurationError(REGISTRY_ENV, f"{source} is not valid YAML: {error}") from None

        registry = cls(parse_registry(data, source))
        logger.info("loaded %d repositories from %s", len(registry), source)
        return registry

    def __len__(self) -> int:
        return len(self._repositories)

    def __iter__(self) -> Iterator[Repository]:
        return iter(self._repositories)

    def by_name(self, name: str) -> Repository:
        """Return the active repository called ``name``.

        Raises RejectedMessage with UNKNOWN_REPOSITORY or INACTIVE_REPOSITORY.
        """
        repo = self._by_name.get(name)
        if repo is None:
            raise RejectedMessage(
                RejectReason.UNKNOWN_REPOSITORY,
                f"repository {name!r} is not in the registry",
                detail={"repository": name},
            )
        if not repo.active:
            raise RejectedMessage(
                RejectReason.INACTIVE_REPOSITORY,
                f"repository {name!r} is not active",
                detail={"repository": name},
            )
        return repo

    def resolve_hg(self, url: str) -> Repository:
        """Return the active hg repository with this push URL and no wildcard branch rule."""
        candidates = [
            repo
            for repo in self._active_with_url(url)
            if repo.dvcs_type == "hg" and not repo.has_wildcard_rule
        ]
        return self._single(candidates, url, "hg push")

    def resolve_github_push(self, url: str, branch: str) -> tuple[Repository, str | None]:
        """Pick the repository for a push of ``branch`` to ``url``.

        An exact branch rule wins over wildcard rules. The returned branch is ``branch`` when
        a wildcard rule matched and None for an exact match. Raises RejectedMessage with
        UNKNOWN_REPOSITORY when no rule matches and AMBIGUOUS_BRANCH when several do.
        """
        candidates = self._active_with_url(url)

        exact = [repo for repo in candidates if repo.exact_rule_matches(branch)]
        if len(exact) == 1:
            return exact[0], None
        if len(exact) > 1:
            raise _ambiguous(url, branch, [repo.name for repo in exact])

        # NOTE: like Treeherder, two matching wildcard rules are ambiguous even when both
        # belong to the same repository.
        wildcard = [
            (repo, rule) for repo in candidates for rule in repo.wildcard_rules_matching(branch)
        ]
        if len(wildcard) == 1:
            return wildcard[0][0], branch
        if len(wildcard) > 1:
            raise _ambiguous(url, branch, [f"{repo.name}:{rule}" for repo, rule in wildcard])

        raise RejectedMessage(
            RejectReason.UNKNOWN_REPOSITORY,
            f"no active repository accepts pushes to branch {branch!r} of {url}",
            detail={"url": url, "branch": branch},
        )

    def resolve_pull_request(self, url: str) -> Repository:
        """Return the active repository with this base URL that accepts pull requests."""
        candidates = [repo for repo in self._active_with_url(url) if repo.accepts_pull_requests]
        return self._single(candidates, url, "pull request")

    def active_hg_repositories(self) -> list[Repository]:
        """List active hg repositories, for example for a pushlog poller."""
        return [repo for repo in self._repositories if repo.active and repo.dvcs_type == "hg"]

    def _active_with_url(self, url: str) -> list[Repository]:
        matching = self._by_url.get(normalize_url(url), [])
        active = [repo for repo in matching if repo.active]
        if matching and not active:
            raise RejectedMessage(
                RejectReason.INACTIVE_REPOSITORY,
                f"every repository with URL {url} is inactive",
                detail={"url": url, "repositories": [repo.name for repo in matching]},
            )
        return active

    def _single(self, candidates: list[Repository], url: str, what: str) -> Repository:
        if len(candidates) == 1:
            return candidates[0]

        if not candidates:
            raise RejectedMessage(
                RejectReason.UNKNOWN_REPOSITORY,
                f"no active repository accepts a {what} from {url}",
                detail={"url": url},
            )

        # Registry loading rejects such duplicates, so this only guards hand-built registries.
        raise RejectedMessage(
            RejectReason.AMBIGUOUS_BRANCH,
            f"several repositories accept a {what} from {url}",
            detail={"url": url, "repositories": [repo.name for repo in candidates]},
        )


def _ambiguous(url: str, branch: str, matches: list[str]) -> RejectedMessage:
    return RejectedMessage(
        RejectReason.AMBIGUOUS_BRANCH,
        f"branch {branch!r} of {url} matches several rules: {', '.join(matches)}",
        detail={"url": url, "branch": branch, "matches": matches},
    )


def parse_registry(data: Any, source: str = "registry") -> list[Repository]:
    """Build repositories from the decoded YAML document ``{repositories: [...]}``."""
    if not isinstance(data, dict) or not isinstance(data.get("repositories"), list):
        raise ConfigurationError(REGISTRY_ENV, f"{source} must contain a 'repositories' list")

    return [_parse_entry(entry, index, source) for index, entry in enumerate(data["repositories"])]


def _parse_entry(entry: Any, index: int, source: str) -> Repository:
    where = f"{source}: repositories[{index}]"
    if not isinstance(entry, dict):
        raise ConfigurationError(REGISTRY_ENV, f"{where} must be a mapping")

    known = {"name", "url", "dvcs_type", "branch_rules", "accepts_pull_requests", "active",
             "tc_root_url"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ConfigurationError(REGISTRY_ENV, f"{where} has unknown keys {unknown}")

    for key in ("name", "url", "dvcs_type"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise ConfigurationError(REGISTRY_ENV, f"{where} needs a non-empty string {key!r}")

    if entry["dvcs_type"] not in _DVCS_TYPES:
        raise ConfigurationError(
            REGISTRY_ENV,
            f"{where}: dvcs_type must be one of {_DVCS_TYPES}, got {entry['dvcs_type']!r}",
        )

    rules = entry.get("branch_rules", [])
    if not isinstance(rules, list) or not all(isinstance(rule, str) and rule for rule in rules):
        raise ConfigurationError(REGISTRY_ENV, f"{where}: branch_rules must be non-empty strings")

    for flag in ("accepts_pull_requests", "active"):
        if flag in entry and not isinstance(entry[flag], bool):
            raise ConfigurationError(REGISTRY_ENV, f"{where}: {flag} must be true or false")

    optional: dict[str, Any] = {}
    if "tc_root_url" in entry:
        optional["tc_root_url"] = str(entry["tc_root_url"])

    return Repository(
        name=entry["name"],
        url=entry["url"],
        dvcs_type=entry["dvcs_type"],
        branch_rules=tuple(rules),
        accepts_pull_requests=entry.get("accepts_pull_requests", False),
        active=entry.get("active", True),
        **optional,
    )


def _check_consistency(repositories: tuple[Repository, ...]) -> None:
    names: set[str] = set()
    hg_urls: set[str] = set()
    pull_request_urls: set[str] = set()

    for repo in repositories:
        if repo.name in names:
            raise ConfigurationError(REGISTRY_ENV, f"repository name {repo.name!r} appears twice")
        names.add(repo.name)

        if not repo.active:
            continue

        if repo.dvcs_type == "hg" and not repo.has_wildcard_rule:
            if repo.normalized_url in hg_urls:
                raise ConfigurationError(
                    REGISTRY_ENV, f"two active hg repositories share the URL {repo.url}"
                )
            hg_urls.add(repo.normalized_url)

        if repo.accepts_pull_requests:
            if repo.normalized_url in pull_request_urls:
                raise ConfigurationError(
                    REGISTRY_ENV,
                    f"two active repositories accept pull requests from {repo.url}",
                )
            pull_request_urls.add(repo.normalized_url)
