"""Upstream locations: one spelling per repository, credentials split off and redacted.

A ``base-commit`` may name one upstream in several ways (``file:///x/up``,
``/x/./up/``, ``https://Host/org/nova.git``) and may carry a credential in the
URL (``https://user:token@host/...``). :func:`normalise` gives the one spelling
the cache keys its mirror on; :func:`redact` removes credentials from any text
before it is printed or stored (as git itself does), so a token lives only in
the argument list of the fetch that needs it (issue 18).
"""

from __future__ import annotations

import os
import posixpath
import re
from urllib.parse import unquote, urlsplit

# scheme://userinfo@ in any text; the userinfo stops at the first '/', '@' or blank
_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/@\s'\"<>]+)@")
_DEFAULT_PORTS = {"http": "80", "https": "443", "ssh": "22", "git": "9418"}
# schemes whose user name is an account, not a secret (only a password is removed)
_ACCOUNT_SCHEMES = ("ssh", "git+ssh", "ssh+git")


def _redact_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match.group(1), match.group(2)
    if scheme.lower().rstrip(":/") in _ACCOUNT_SCHEMES:
        user = userinfo.split(":", 1)[0]
        return f"{scheme}{user}@"
    return scheme  # http(s): a token is often the user name itself


def redact(text: str) -> str:
    """``text`` with every credential of a ``scheme://user:secret@`` URL removed."""
    if "@" not in text:
        return text
    return _USERINFO_RE.sub(_redact_userinfo, text)


def has_credentials(location: str) -> bool:
    return redact(location) != location


def host(location: str) -> str | None:
    """The lower-case host (with a non-default port) a URL fetches from; None for a path."""
    if "://" in location and not location.lower().startswith("file://"):
        parts = urlsplit(location)
        name = (parts.hostname or "").lower()
        try:
            port = parts.port
        except ValueError:
            port = None
        scheme = parts.scheme.lower().split("+")[0]
        if port is not None and str(port) != _DEFAULT_PORTS.get(scheme):
            return f"{name}:{port}"
        return name or None
    scp = re.match(r"^(?:[^@/:]+@)?([^/:]+):", location)
    if scp and not location.startswith("/"):
        return scp.group(1).lower()
    return None


def local_path(location: str) -> str | None:
    """The absolute path a ``file://`` URL or plain path names, normalised; None for a URL."""
    if location.lower().startswith("file://"):
        path = unquote(urlsplit(location).path)
    elif "://" in location or host(location):
        return None
    else:
        path = location
    normal = posixpath.normpath(os.path.abspath(path))
    return normal.rstrip("/") or "/"


def normalise(location: str) -> str:
    """The one spelling of an upstream the cache keys on (credentials never part of it).

    Local: ``file:///x/up``, ``/x/./up`` and ``/x/up/`` are the path ``/x/up``
    (a ``.git`` suffix is kept: it names another directory). URL: scheme and
    host lower-case, default port dropped, ``.``/``//`` segments and a trailing
    ``/`` or ``.git`` removed (``https://host/nova.git`` is ``https://host/nova``
    on every forge).
    """
    path = local_path(location)
    if path is not None:
        return path
    if "://" not in location:  # scp-like user@host:path
        account, _, rest = location.rpartition("@")
        hostname, _, repo = rest.partition(":")
        repo = posixpath.normpath("/" + repo).lstrip("/")
        repo = repo.removesuffix("/").removesuffix(".git")
        return f"ssh://{account + '@' if account else ''}{hostname.lower()}/{repo}"
    parts = urlsplit(redact(location))
    scheme = parts.scheme.lower()
    netloc = host(location) or ""
    if scheme.split("+")[0] == "ssh" and parts.username:
        netloc = f"{parts.username}@{netloc}"
        scheme = "ssh"
    repo = posixpath.normpath(parts.path or "/") if parts.path else "/"
    repo = repo.rstrip("/").removesuffix(".git")
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{repo}{query}"
