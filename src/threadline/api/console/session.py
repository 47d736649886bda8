"""The console's sign-in: a cookie that proves the browser was given the operator's admin key.

The cookie holds its expiry and an HMAC-SHA256 of it keyed by the admin key, so it needs no
server-side state (every worker and replica accepts it) and a new admin key signs every
browser out. It is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page
sends it) and scoped to `/console`. Each form carries a token derived from the cookie as well,
checked on every POST: a second guard against cross-site requests beside `SameSite`.
"""

from __future__ import annotations

import hashlib
import hmac
import time

COOKIE = "threadline_console"
PATH = "/console"


class AdminSessions:
    def __init__(self, admin_key: str, lifetime_seconds: float) -> None:
        self._key = admin_key.encode("utf-8")
        self._lifetime = lifetime_seconds

    def key_matches(self, offered: str) -> bool:
        return hmac.compare_digest(offered.encode("utf-8"), self._key)

    def new_cookie(self, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self._lifetime)
        return f"{expires}.{self._sign(f'session:{expires}')}"

    def is_valid(self, cookie: str | None, now: float | None = None) -> bool:
        if not cookie or "." not in cookie:
            return False
        expires, signature = cookie.split(".", 1)
        if not expires.isdigit() or int(expires) <= (time.time() if now is None else now):
            return False
        return hmac.compare_digest(signature, self._sign(f"session:{expires}"))

    def form_token(self, cookie: str) -> str:
        """The token a form of this session carries (checked by `form_token_matches`)."""
        return self._sign(f"form:{cookie}")

    def form_token_matches(self, cookie: str, token: str) -> bool:
        return hmac.compare_digest(token, self.form_token(cookie))

    @property
    def lifetime_seconds(self) -> int:
        return int(self._lifetime)

    def _sign(self, message: str) -> str:
        return hmac.new(self._key, message.encode("utf-8"), hashlib.sha256).hexdigest()
