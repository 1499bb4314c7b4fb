"""Storage URLs without their secrets: for messages, reports, logs and model folders.

A storage URL may carry a password (after the user name, or in the query) and other secrets (tokens,
keys in the query). :func:`redact` shows a URL without them, however SQLAlchemy reads it, and
:func:`scrub` removes them from text that may quote them (a database driver's error message).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from sqlalchemy.exc import SQLAlchemyError

#: Query parameters of a storage URL that may carry a secret (libpq's ``password`` and
#: ``sslpassword``, the MySQL drivers' ``passwd``, tokens, keys): never shown nor stored.
_SECRET_KEYS = re.compile(r"pass|pwd|secret|token|credential|auth|key", re.IGNORECASE)


def parse_url(url: str) -> Any:
    """``url`` as SQLAlchemy reads it (a ``sqlalchemy.engine.URL``), or None where it cannot."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url)
    except (SQLAlchemyError, ValueError, TypeError):
        return None


def public_url(u: Any) -> str:
    """``u`` rendered with its password hidden and its secret query parameters dropped.

    A password holding an ``@`` that is not written ``%40`` is read by SQLAlchemy as a password
    cut at that ``@`` and a host (or database) starting with the rest of it: everything up to the
    last ``@`` is hidden then, host included.
    """
    from sqlalchemy.engine import URL

    query = {k: v for k, v in u.query.items() if not _SECRET_KEYS.search(k)}
    if "@" in (u.host or ""):
        rest = URL.create(u.drivername, host=u.host.rpartition("@")[2], port=u.port, database=u.database, query=query)
    elif "@" in (u.database or "") and (u.username is not None or u.password is not None):
        rest = URL.create(u.drivername, database=u.database.rpartition("@")[2], query=query)
    else:
        return u.set(query=query).render_as_string(hide_password=True)
    return rest.render_as_string().replace("://", "://***@", 1)


def redact(url: str) -> str:
    """The storage URL without its credentials, for messages, reports and model folders.

    The URL is read as SQLAlchemy reads it (every form it accepts: a password after the user
    name, an empty user name, a password in the query as ``?password=``): the password is shown
    as ``***`` and query parameters that may hold a secret are dropped. A URL SQLAlchemy cannot
    read shows nothing of what comes before its last ``@``, nor its query.
    """
    if "://" not in url:
        return url  # a file path (a journal file, a .db file): nothing secret in it
    u = parse_url(url)
    if u is not None:
        return public_url(u)
    scheme, _, rest = url.partition("://")
    if "@" not in rest:
        return f"{scheme}://***"
    return f"{scheme}://***@{rest.rpartition('@')[2].split('?')[0]}"


def secrets_of(url: str) -> list[str]:
    """The secrets written in ``url`` (its password, however written; secret query values), longest
    first: what :func:`scrub` removes from a driver's message."""
    found: set[str] = set()
    pieces: set[str] = set()
    u = parse_url(url) if "://" in url else None
    if u is not None:
        found.update(str(v) for k, vs in u.query.items() if _SECRET_KEYS.search(k)
                     for v in (vs if isinstance(vs, (list, tuple)) else (vs,)))
        if u.password:
            found.add(str(u.password))
    scheme, _, rest = url.partition("://")
    userinfo = rest.rpartition("@")[0]
    if userinfo and ":" in userinfo:
        raw = userinfo.partition(":")[2]
        found.add(raw)
        pieces.update(p for part in raw.split("@") for p in (part, *part.split(":"), *part.split("/")))
        # SQLAlchemy cuts such a password at its first @ and reads the rest as the host's start
        pieces.update(raw[i + 1:] + "@" for i, c in enumerate(raw) if c == "@")
    found |= {unquote(x) for x in found}
    out = {x for x in found if len(x) >= 2} | {x for x in pieces if len(x) >= 3}
    return sorted(out, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` (e.g. a driver's error message) with every secret of ``url`` replaced by ``***``."""
    for secret in secrets_of(url):
        text = text.replace(secret, "***")
    return text
