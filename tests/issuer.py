"""A local OIDC issuer for the identity tests: two users, tokens signed with keys generated here,
the OpenID configuration and JWKS served on 127.0.0.1, and an index whose documents each name
who may find them. Used by the unit and the integration tier alike."""

from __future__ import annotations

import json
import shutil
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.config import PROJECT_ROOT
from tests.recording_server import RecordingServer

AUDIENCE = "api://rag-chat"
ALICE, BOB = "11111111-aaaa-4aaa-8aaa-111111111111", "22222222-bbbb-4bbb-8bbb-222222222222"


class Issuer:
    """An OIDC issuer: signs tokens, serves its OpenID configuration and JWKS."""

    def __init__(self) -> None:
        self.keys = {"key-1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        self.published = ["key-1"]
        self.server = RecordingServer(self._respond)

    def _respond(self, request):
        if request.path == "/.well-known/openid-configuration":
            return 200, {"issuer": self.url, "jwks_uri": f"{self.url}/keys"}
        if request.path == "/keys":
            keys = [
                {
                    **json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key())),
                    "kid": kid,
                    "use": "sig",
                }
                for kid in self.published
            ]
            return 200, {"keys": keys}
        return 404, None

    @property
    def url(self) -> str:
        return self.server.url

    def token(self, subject=ALICE, *, kid="key-1", signing_key="", lifetime=86_400, **claims) -> str:
        now = int(time.time())
        payload = {"iss": self.url, "aud": AUDIENCE, "oid": subject, "sub": f"sub-{subject}", "iat": now}
        payload |= {"nbf": now, "exp": now + lifetime} | claims
        payload = {k: v for k, v in payload.items() if v is not None}  # None: leave the claim out
        key = self.keys[signing_key or kid]
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})

    def key_fetches(self) -> int:
        return sum(1 for r in self.server.requests if r.path == "/keys")


@pytest.fixture
def issuer(configure):
    issuer = Issuer()
    with issuer.server:
        configure(AUTH_TOKEN_VALIDATION="true", AUTH_ISSUER=issuer.url, AUTH_AUDIENCE=json.dumps([AUDIENCE]))
        yield issuer


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def secured_index(configure, tmp_path):
    """An index whose documents each list the principals allowed to find them."""
    from shared import backends
    from shared.ingest.chunking import Chunker
    from shared.ingest.pipeline import ingest
    from shared.retrieval.embedded import EmbeddedIndex, EmbeddedIndexWriter

    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, principals in (("warranty-policy.md", [ALICE]), ("zephyr-e-bike-manual.md", [BOB])):
        shutil.copy(PROJECT_ROOT / "samples" / "corpus" / name, folder / name)
        (folder / f"{name}.meta.json").write_text(json.dumps({"allowed_principals": principals}))
    path = tmp_path / "index.sqlite"
    await ingest(
        folder, EmbeddedIndexWriter(EmbeddedIndex(path, "docs")), backends.embeddings(), prune=False, chunker=Chunker()
    )
    configure(SEARCH_INDEX_PATH=str(path), SEARCH_SECURITY_FIELD="allowed_principals")
