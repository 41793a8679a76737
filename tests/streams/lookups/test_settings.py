"""Tests of LookupSettings.from_env."""

from __future__ import annotations

import pytest

from streams.errors import ConfigurationError
from streams.lookups.settings import LookupSettings


def test_defaults_point_at_real_services():
    settings = LookupSettings.from_env({})

    assert settings.github_api_url == "https://api.github.com"
    assert settings.hg_base_url_override == ""
    assert settings.taskcluster_root_url_override == ""


def test_common_override_sets_every_base():
    settings = LookupSettings.from_env({"LOOKUP_BASE_URL_OVERRIDE": "http://127.0.0.1:8765/"})

    assert settings.github_api_url == "http://127.0.0.1:8765"
    assert settings.hg_base_url_override == "http://127.0.0.1:8765"
    assert settings.taskcluster_root_url_override == "http://127.0.0.1:8765"


def test_specific_override_wins():
    settings = LookupSettings.from_env(
        {"LOOKUP_BASE_URL_OVERRIDE": "http://127.0.0.1:1", "GITHUB_API_URL": "http://127.0.0.1:2"}
    )

    assert settings.github_api_url == "http://127.0.0.1:2"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOOKUP_TIMEOUT", "0"),
        ("LOOKUP_RETRIES", "-1"),
        ("LOOKUP_CACHE_SIZE", "many"),
        ("HG_BASE_URL_OVERRIDE", "127.0.0.1:8000"),
        ("LOOKUP_BACKOFF_MAX", "0.1"),
    ],
)
def test_invalid_value_names_variable(variable, value):
    with pytest.raises(ConfigurationError) as caught:
        LookupSettings.from_env({variable: value})

    assert caught.value.variable == variable
