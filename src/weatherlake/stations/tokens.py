"""The stations' bearer tokens for HTTP push: a file of ``<station_id> <token>`` lines.

::

    # STATION_TOKENS=/etc/weatherlake/station_tokens
    ws-0042   9c1d7f0e8b3a4c2d9e6f1a7b
    ws-0043   1f2e3d4c5b6a79880a1b2c3d

Blank lines and ``#`` comments are skipped. A token is at least 16 characters and
belongs to one station; it authorises readings of that station only. Tokens are kept
hashed (SHA-256) in memory, so a lookup compares digests, never the secret itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from weatherlake.errors import ConfigError
from weatherlake.records.schema import SLUG

MIN_TOKEN_LENGTH = 16


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def load_tokens(path: str, setting: str = "STATION_TOKENS", owner: str = "station") -> dict[str, str]:
    """{sha256(token): station_id} from the file at ``path``; ConfigError naming the line if it is bad.

    The export's client tokens (``EXPORT_TOKENS``) have the same format, with client names.
    """
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ConfigError(f"{setting}: cannot read {path}: {error.strerror}") from None
    tokens: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        where = f"{setting} {path}, line {number}"
        if len(parts) != 2:
            raise ConfigError(f"{where}: expected '<{owner}_id> <token>'")
        station, token = parts
        if not SLUG.ok(station):
            raise ConfigError(f"{where}: {owner} id {station!r} is not a lowercase slug")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ConfigError(f"{where}: the token is shorter than {MIN_TOKEN_LENGTH} characters")
        if digest(token) in tokens:
            raise ConfigError(f"{where}: the token is already given to another {owner}")
        tokens[digest(token)] = station
    return tokens
