"""Bearer tokens: obtained with a password or an API key, refreshed before
they expire (``refresh_token``), and obtained again with the credentials
when refreshing is no longer possible. A client that authenticates with a
TLS client certificate alone sends no token."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Optional, Tuple

import pyarrow.flight as fl

from .errors import Unauthenticated, translate

# Refresh once this share of the token's lifetime is left.
REFRESH_SHARE = 0.2


def _claims(token: str) -> dict:
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        return {}


class Tokens:
    """The session's bearer token, kept fresh. Thread-safe."""

    def __init__(
        self,
        client: fl.FlightClient,
        user: Optional[str],
        password: Optional[str],
        token: Optional[str],
    ):
        self._client = client
        self._credentials = (user, password) if user is not None and password is not None else None
        self._lock = threading.Lock()
        self._token = token or ""
        self._issued = time.time()
        self._expires: Optional[float] = None
        self.refreshes = 0
        self.logins = 0
        # Neither credentials nor a token: the client certificate is the credential.
        self.certificate_only = self._credentials is None and not token
        if token:
            self._set(token)
        elif self._credentials is not None:
            self._login()

    def _set(self, token: str) -> None:
        claims = _claims(token)
        self._token = token
        self._issued = float(claims.get("iat", time.time()))
        exp = claims.get("exp")
        self._expires = float(exp) if exp is not None else None

    def _login(self) -> None:
        if self._credentials is None:
            raise Unauthenticated("the token has expired and there are no credentials to log in again")
        user, password = self._credentials
        try:
            _, value = self._client.authenticate_basic_token(user, password)
        except Exception as e:  # noqa: BLE001 (translated)
            raise translate(e) from None
        self.logins += 1
        self._set(value.decode().removeprefix("Bearer "))

    def _refresh(self) -> None:
        options = fl.FlightCallOptions(headers=[self._header()])
        try:
            results = list(self._client.do_action(fl.Action("refresh_token", b"{}"), options=options))
            self._set(json.loads(results[0].body.to_pybytes())["token"])
            self.refreshes += 1
        except Exception:  # noqa: BLE001 (the token may be unusable: log in again)
            self._login()

    def _header(self) -> Tuple[bytes, bytes]:
        return (b"authorization", f"Bearer {self._token}".encode())

    def header(self) -> Optional[Tuple[bytes, bytes]]:
        """The authorization header, refreshing the token first if it is
        about to expire (``None`` when a client certificate authenticates)."""
        if self.certificate_only:
            return None
        with self._lock:
            if self._expires is not None:
                now = time.time()
                lifetime = max(self._expires - self._issued, 1.0)
                if now >= self._expires:
                    self._login()
                elif self._expires - now <= lifetime * REFRESH_SHARE:
                    self._refresh()
            return self._header()

    def renew(self) -> None:
        """Logs in again (after the server refused the token)."""
        with self._lock:
            self._login()

    @property
    def can_renew(self) -> bool:
        """Whether credentials are at hand to log in again."""
        return self._credentials is not None
