"""Webhook signing secrets as OpenAI makes them: `whsec_` and the base64 of 32 random bytes
(tools/webhooks.py signs with them)."""

from __future__ import annotations

import base64
import secrets

_PREFIX = "whsec_"


def new_secret() -> str:
    return _PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def hint(secret: str) -> str:
    """What may be shown of a secret after it was shown once."""
    return f"{secret[: len(_PREFIX) + 4]}…{secret[-4:]}"
