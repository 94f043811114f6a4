"""Bearer-token validation for Entra ID or any OIDC issuer (AUTH_*).

Signing keys come from the issuer's JWKS, fetched once and kept; a token signed with a key
id not seen yet refreshes them, at most once a minute after a successful fetch, so forged
key ids cannot make the service hammer the issuer. A fetch that fails (or passes its time
limit) is not a fetch: while the keys cannot be had, requests get 503 (never 401, which
clients read as "sign in again"), and the fetch is tried again after a short backoff that
doubles up to MAX_RETRY_SECONDS. Expiry and not-before are checked with a small clock skew.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from shared.core.errors import UpstreamError
from shared.settings import AuthSettings

log = logging.getLogger(__name__)

MIN_REFRESH_SECONDS = 60
FETCH_TIMEOUT_SECONDS = 10  # discovery and key set together; the HTTP deadline lowers it
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30
KEYS_UNAVAILABLE = "The token could not be checked now; try again."


@dataclass(frozen=True)
class Caller:
    """Who a validated token says the caller is."""

    id: str  # the token's object id (Entra ID) or subject
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()


class AuthError(Exception):
    """401 (no or bad credentials) or 403 (valid, but without the required role or scope)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def challenge(self, realm: str) -> str:
        """The WWW-Authenticate header value (RFC 6750)."""
        if self.error == "missing_token":  # no credentials: the bare challenge, no error code
            return f'Bearer realm="{realm}"'
        return f'Bearer realm="{realm}", error="{self.error}", error_description="{self.description}"'


class TokenValidator:
    def __init__(self, settings: AuthSettings, *, fetch_timeout: float = FETCH_TIMEOUT_SECONDS) -> None:
        self._settings = settings
        self._fetch_timeout = fetch_timeout
        self._keys: dict[str, Any] = {}  # key id -> PyJWK
        self._fetched_at = float("-inf")  # the last successful fetch
        self._failures = 0  # fetches failed in a row since then
        self._retry_at = float("-inf")  # no fetch before this after a failure
        self._jwks_url = settings.jwks_url
        self._lock = asyncio.Lock()

    async def caller(self, authorization: str | None) -> Caller:
        """The caller a request's Authorization header proves; AuthError if it proves none."""
        import jwt

        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "missing_token", "a bearer token is required")
        settings = self._settings
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in settings.algorithms:
                raise AuthError(401, "invalid_token", "the token's algorithm is not accepted")
            key = await self._key(header.get("kid"))
            claims = jwt.decode(
                token,
                key.key,
                algorithms=settings.algorithms,
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=settings.clock_skew_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError(401, "invalid_token", "the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError(401, "invalid_token", "the token is not valid yet") from exc
        except jwt.InvalidTokenError as exc:
            # The library's message names the failed check (audience, issuer, signature...).
            raise AuthError(401, "invalid_token", f"the token is not valid: {exc}") from exc
        identity = next((claims[c] for c in settings.identity_claims if claims.get(c)), None)
        if not isinstance(identity, str):
            raise AuthError(401, "invalid_token", f"the token has none of the claims {settings.identity_claims}")
        caller = Caller(
            identity,
            frozenset(claims.get("roles") or ()),
            frozenset(str(claims.get("scp") or "").split()),
        )
        self._authorize(caller)
        return caller

    def _authorize(self, caller: Caller) -> None:
        settings = self._settings
        if settings.required_roles and not caller.roles & set(settings.required_roles):
            raise AuthError(403, "insufficient_scope", f"requires one of the roles {settings.required_roles}")
        if settings.required_scopes and not caller.scopes & set(settings.required_scopes):
            raise AuthError(403, "insufficient_scope", f"requires one of the scopes {settings.required_scopes}")

    async def _key(self, kid: str | None) -> Any:
        if kid not in self._keys:
            async with self._lock:
                now = time.monotonic()
                if kid in self._keys:  # fetched while this request waited for the lock
                    return self._keys[kid]
                if now >= self._retry_at and now - self._fetched_at >= MIN_REFRESH_SECONDS:
                    await self._refresh()
                elif self._failures:  # the last fetch failed and its backoff has not passed
                    raise UpstreamError("signing_keys_unavailable", KEYS_UNAVAILABLE)
        if kid not in self._keys:
            raise AuthError(401, "invalid_token", "the token is signed with an unknown key")
        return self._keys[kid]

    async def _refresh(self) -> None:
        try:
            async with asyncio.timeout(self._fetch_timeout):
                key_set = await self._fetch()
        except Exception as exc:  # noqa: BLE001 - the issuer is an upstream: a 503, logged
            self._failures += 1
            backoff = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (self._failures - 1))
            self._retry_at = time.monotonic() + backoff
            log.error("signing keys could not be fetched (%s); next try in %.1f s", type(exc).__name__, backoff)
            raise UpstreamError("signing_keys_unavailable", KEYS_UNAVAILABLE) from exc
        self._keys = {key.key_id: key for key in key_set.keys}
        self._fetched_at, self._failures, self._retry_at = time.monotonic(), 0, float("-inf")
        log.info("fetched %d signing key(s)", len(self._keys))

    async def _fetch(self) -> Any:
        """The issuer's key set (a PyJWKSet), found through OIDC discovery unless AUTH_JWKS_URL is set."""
        import aiohttp
        from jwt import PyJWKSet

        async with aiohttp.ClientSession() as session:
            if self._jwks_url is None:
                discovery = f"{self._settings.issuer.rstrip('/')}/.well-known/openid-configuration"
                async with session.get(discovery) as response:
                    response.raise_for_status()
                    self._jwks_url = (await response.json(content_type=None))["jwks_uri"]
            async with session.get(self._jwks_url) as response:
                response.raise_for_status()
                return PyJWKSet.from_dict(await response.json(content_type=None))
