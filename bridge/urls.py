"""Parsing of AMQP URLs such as ``PULSE_URL`` and their password-free form for logs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from streams.errors import ConfigurationError

_SCHEMES = {"amqp": 5672, "amqps": 5671}
_TRUE = {"1", "true", "yes", "on"}
# Greedy up to the last "@" of the token, so a password that contains "@" is masked whole.
_PASSWORD_IN_URL = re.compile(r"(?P<prefix>[a-z][a-z0-9+.-]*://[^:/@\s]*:)\S*@", re.IGNORECASE)


@dataclass(frozen=True)
class PulseUrl:
    """Connection parameters of one AMQP broker; the password is kept out of ``repr``."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    vhost: str
    ssl: bool

    def masked(self) -> str:
        """Return the URL with the password replaced by ``***``."""
        scheme = "amqps" if self.ssl else "amqp"
        vhost = "" if self.vhost == "/" else self.vhost.replace("/", "%2F")
        return f"{scheme}://{self.user}:***@{self.host}:{self.port}/{vhost}"

    def with_vhost(self, vhost: str) -> PulseUrl:
        """Return a copy that connects to ``vhost``."""
        return PulseUrl(self.host, self.port, self.user, self.password, vhost, self.ssl)


def parse_pulse_url(raw: str, variable: str = "PULSE_URL") -> PulseUrl:
    """Parse an ``amqp://`` or ``amqps://`` URL; ``?ssl=1`` also turns TLS on.

    The vhost is the URL path without its leading ``/`` (percent-decoded), and ``/``
    when the path is empty, as in kombu. Errors name ``variable`` and never contain
    the password.
    """
    text = raw.strip()
    if not text:
        raise ConfigurationError(variable, "is empty; set it to amqp://USER:PASSWORD@HOST:PORT/VHOST")

    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise ConfigurationError(variable, f"invalid URL {mask_url(text)!r}: {error}") from None

    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigurationError(variable, f"expected an amqp:// or amqps:// URL, got {mask_url(text)!r}")
    if not parts.hostname:
        raise ConfigurationError(variable, f"no host in {mask_url(text)!r}")
    if not parts.username:
        raise ConfigurationError(
            variable, f"no user in {mask_url(text)!r}; queue names are built from the Pulse user"
        )

    query = parse_qs(parts.query)
    ssl = scheme == "amqps" or any(value.lower() in _TRUE for value in query.get("ssl", []))
    default_port = _SCHEMES["amqps"] if ssl else _SCHEMES["amqp"]

    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    vhost = unquote(path) if path else "/"

    return PulseUrl(
        host=parts.hostname,
        port=port if port is not None else default_port,
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        vhost=vhost,
        ssl=ssl,
    )


def mask_url(text: str) -> str:
    """Replace the password of every ``scheme://user:password@`` in ``text`` with ``***``."""
    return _PASSWORD_IN_URL.sub(r"\g<prefix>***@", text)
