"""Who a request acts as, and whose stored conversations it reaches.

An identity comes from a validated bearer token or, only when the operator trusts the
caller (AUTH_TRUST_ASSERTED_USERS), from the user id the request asserts. A caller without
one finds only documents shared with `anonymous`, lists no sessions, and reaches a
conversation only by its exact ids, through the API family that created it: such a
conversation is stored under an owner derived from those ids (and the function key the
caller presented), in a namespace that no identity can name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

ANONYMOUS_USER = "anonymous"  # the search principal of a caller without an identity
DERIVED_OWNER_PREFIX = "anon:"  # owners of conversations started without an identity


class SessionFamily(StrEnum):
    """The API families whose conversations are stored apart: a conversation started through one
    is reached through it alone. The values are part of stored owners (session_owner): keep them."""

    V2 = "v2"  # /api/v2/flexible-*, its sessions endpoints, the MCP tools
    OPENAI = "openai-compatible"  # chat completions and the Responses API
    SESSION_CHAT = "session-chat"
    MULTI_SOURCE = "multi-source"


@dataclass(frozen=True)
class Principal:
    identity: str | None  # a validated token's, or a trusted asserted user id; None: no identity
    asserted: str | None  # the user id the request claims, trusted or not
    function_key: str | None = None  # the key the caller presented to the Functions host

    @classmethod
    def of(
        cls, token_identity: str | None, asserted: str | None, *, trust_asserted: bool, function_key: str | None
    ) -> Principal:
        identity = token_identity
        # An asserted id in the derived owners' namespace is never an identity: it could name one.
        if identity is None and trust_asserted and asserted and not asserted.startswith(DERIVED_OWNER_PREFIX):
            identity = asserted
        return cls(identity, asserted, function_key)

    @property
    def search_principal(self) -> str:
        """Whose documents the search security filter lets through."""
        return self.identity or ANONYMOUS_USER

    @property
    def experiment_key(self) -> str:
        """Whom an A/B variant is assigned to: a stable key, not a proof of who the caller is."""
        return self.identity or self.asserted or ANONYMOUS_USER

    def session_owner(self, family: SessionFamily, session_id: str) -> str:
        """The owner a session is stored under: the identity, or one derived from the family,
        the function key, the session id and the asserted user id, so that only a caller
        presenting all of them again reaches it."""
        if self.identity is not None:
            return self.identity
        key_digest = hashlib.sha256(self.function_key.encode()).hexdigest() if self.function_key else ""
        material = json.dumps([family, key_digest, session_id, self.asserted or ""])
        return DERIVED_OWNER_PREFIX + hashlib.sha256(material.encode()).hexdigest()
