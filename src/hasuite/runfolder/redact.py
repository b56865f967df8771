"""Keep secrets out of everything a report writes.

Two layers: the known secret values (the lab's ``secrets.json``: database passwords, the Django
key, the probe token) are replaced wherever they occur, and credential-shaped text is masked even
when its value is unknown (``password=...``, ``X-Probe-Token: ...``, ``scheme://user:pass@``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["MASK", "Redactor", "lab_secret_values"]

MASK = "[redacted]"
#: Shorter known values are not replaced verbatim (they would mask ordinary words and numbers);
#: generated secrets are 32 characters.
MIN_SECRET_LEN = 6
_PATTERNS = (
    # key=value / key: value for credential-like keys (DSNs, headers, env dumps)
    re.compile(
        r"(?i)\b((?:[a-z_-]*password|passwd|pwd|secret(?:_key)?|[a-z_-]*token|authorization)"
        r"[\"']?\s*[=:]\s*[\"']?)(?!\[redacted\])([^\s\"'&;,]+)"
    ),
    # userinfo in URLs: postgresql://user:password@host
    re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)(?!\[redacted\])([^@\s/]+)(@)"),
)


class Redactor:
    """Replaces known secret values and credential-shaped text in strings and JSON data."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LEN}
        # longest first, so a secret containing another is masked whole
        self._secrets = sorted(values, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        value = _PATTERNS[0].sub(lambda m: m.group(1) + MASK, value)
        return _PATTERNS[1].sub(lambda m: m.group(1) + MASK + m.group(3), value)

    def data(self, value: Any) -> Any:
        """``value`` (JSON data) with every string (keys too) redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def lab_secret_values(secrets_file: Path) -> list[str]:
    """The values of a lab's ``secrets.json`` (empty when there is none or it is unreadable).

    Missing is normal (no lab on this machine, or a report rendered elsewhere): the pattern layer
    still applies.
    """
    try:
        data = json.loads(secrets_file.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict):
        return []
    return [v for v in data.values() if isinstance(v, str)]
