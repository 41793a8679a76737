"""Asynchronous HTTP lookups of Taskcluster, hg.mozilla.org and GitHub with retries and a cache."""
