"""Bearer tokens while the issuer is out: 503 while its signing keys cannot be fetched
(never 401, which clients read as "sign in again"), a failed fetch retried after a short
backoff rather than the minute between refreshes, and a time limit on every fetch."""

from __future__ import annotations

import asyncio
import json
import time

from tests.issuer import AUDIENCE, Issuer, bearer
from tests.silent_server import SilentServer

SESSIONS = "/api/v2/sessions"


async def test_keys_that_cannot_be_fetched_are_a_503_until_the_issuer_is_back(client, configure):
    issuer = Issuer()  # its port is chosen, nothing listens on it yet: connections are refused
    configure(AUTH_TOKEN_VALIDATION="true", AUTH_ISSUER=issuer.url, AUTH_AUDIENCE=json.dumps([AUDIENCE]))
    headers = bearer(issuer.token())

    during = [(await client.get(SESSIONS, headers=headers)) for _ in range(3)]
    assert [r.status_code for r in during] == [503, 503, 503]
    assert {r.json()["code"] for r in during} == {"signing_keys_unavailable"}

    with issuer.server:
        statuses = []
        for _ in range(150):  # the first retry comes after half a second: far fewer tries than this
            statuses.append((await client.get(SESSIONS, headers=headers)).status_code)
            if statuses[-1] != 503:
                break
            await asyncio.sleep(0.1)
        fetches = issuer.key_fetches()

    assert statuses[-1] == 200, statuses
    assert set(statuses) <= {503, 200}  # never 401 "unknown key" meanwhile
    assert fetches == 1  # one fetch once the issuer answered: the failed ones left no cooldown


async def test_a_hanging_key_set_is_a_503_within_the_deadline(client, configure):
    issuer = Issuer()
    with SilentServer() as silent:
        configure(
            AUTH_TOKEN_VALIDATION="true",
            AUTH_ISSUER=issuer.url,
            AUTH_AUDIENCE=json.dumps([AUDIENCE]),
            AUTH_JWKS_URL=f"http://127.0.0.1:{silent.port}/keys",
            HTTP_DEADLINE_SECONDS="2",
        )
        started = time.monotonic()
        response = await client.get(SESSIONS, headers=bearer(issuer.token()))
        elapsed = time.monotonic() - started

    assert response.status_code == 503 and response.json()["code"] == "signing_keys_unavailable"
    assert silent.accepted >= 1  # the fetch reached the server and waited on it
    assert elapsed < 2 + 10  # it came back at all: bounded by the deadline, not the client's default
