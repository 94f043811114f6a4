"""Per-user uploads through the API (/api/v2/documents): indexed for the owner alone, listed with
their status, deleted from the index and the store; and every refusal (403, 413, 415, 422) leaves
nothing behind. In-process, on the embedded index and a document folder of the test's own."""

from __future__ import annotations

import io
import json

import pytest

from shared import backends

FACT = "The Zorblax courier service delivers spare batteries to Reykjavik within nine days."
QUESTION = "Which courier delivers spare batteries to Reykjavik?"


@pytest.fixture
def documents(configure, tmp_path):
    """Asserted users trusted (as behind a backend), documents kept in a folder of this test's own;
    the embedded default's extractive answers (the test is about what search finds, not the model)."""
    configure(
        AUTH_TRUST_ASSERTED_USERS="true", DOCUMENTS_DIR=str(tmp_path / "documents"), LLM_ANSWER_STRATEGY="extractive"
    )
    return tmp_path / "documents"


async def upload(client, user, filename, data, content_type="text/markdown"):
    params = {"user_id": user} if user else {}
    files = {"file": (filename, io.BytesIO(data), content_type)}
    return await client.post("/api/v2/documents", params=params, files=files)


async def found_files(client, user, question=QUESTION):
    body = {"question": question, "fetch_args": {"AzureSearchFetcher": {"top_k": 10}}}
    if user:
        body["ab_testing"] = {"user_id": user}
    response = await client.post("/api/v2/flexible-rag", json=body)
    assert response.status_code == 200, response.text
    return {source["filename"] for source in response.json()["metadata"]}


async def indexed_names() -> set[str]:
    return set(await backends.index_writer().document_hashes())


async def test_the_owner_finds_an_upload_no_one_else_does_and_delete_removes_it(client, documents):
    uploaded = await upload(client, "alice", "couriers.md", f"# Couriers\n\n{FACT}\n".encode())

    assert uploaded.status_code == 201, uploaded.text
    document = uploaded.json()
    assert document["status"] == "indexed" and document["chunks"] >= 1 and document["filename"] == "couriers.md"
    name = document["name"]
    # Searchable as soon as the upload has answered: by its owner only.
    response = await client.post(
        "/api/v2/flexible-rag", json={"question": QUESTION, "ab_testing": {"user_id": "alice"}}
    )
    assert "Zorblax" in response.json()["answer"]
    assert name in await found_files(client, "alice")
    assert name not in await found_files(client, "bob")
    assert name not in await found_files(client, None)
    assert (documents / name).read_bytes().startswith(b"# Couriers")

    listed = (await client.get("/api/v2/documents", params={"user_id": "alice"})).json()["documents"]
    assert [(d["id"], d["status"], d["chunks"]) for d in listed] == [(document["id"], "indexed", document["chunks"])]
    assert (await client.get("/api/v2/documents", params={"user_id": "bob"})).json() == {"documents": []}

    path = f"/api/v2/documents/{document['id']}"
    assert (await client.delete(path, params={"user_id": "bob"})).status_code == 404
    assert name in await found_files(client, "alice")
    assert (await client.delete(path, params={"user_id": "alice"})).status_code == 204

    assert name not in await found_files(client, "alice")
    assert name not in await indexed_names()
    assert not (documents / name).exists()
    assert (await client.get("/api/v2/documents", params={"user_id": "alice"})).json() == {"documents": []}
    assert (await client.delete(path, params={"user_id": "alice"})).status_code == 404


async def test_without_an_identity_documents_are_refused(client, configure, tmp_path):
    configure(DOCUMENTS_DIR=str(tmp_path))  # asserted user ids not trusted: no identity

    uploaded = await upload(client, "alice", "a.md", b"# A\n\ntext")
    listed = await client.get("/api/v2/documents", params={"user_id": "alice"})
    deleted = await client.delete("/api/v2/documents/0123456789abcdef", params={"user_id": "alice"})

    assert [r.status_code for r in (uploaded, listed, deleted)] == [403, 403, 403]
    assert uploaded.json()["code"] == "identity_required"
    assert not any(tmp_path.iterdir())


async def test_no_one_uploads_as_the_principal_of_callers_without_an_identity(client, documents):
    # Callers without an identity search as "anonymous": an upload listing it would be everyone's.
    response = await upload(client, "anonymous", "a.md", b"# A\n\ntext")

    assert response.status_code == 403
    assert not documents.exists()


async def test_a_50_mb_file_is_413_before_it_is_read(client, documents):
    response = await upload(client, "alice", "big.txt", b"x" * 50_000_000, "text/plain")

    assert response.status_code == 413
    assert "10000000 bytes" in response.json()["detail"]
    assert not documents.exists()


async def test_a_file_just_over_the_limit_is_413(client, documents, configure):
    configure(DOCUMENTS_MAX_BYTES="2000")

    response = await upload(client, "alice", "over.txt", b"word " * 401, "text/plain")

    assert response.status_code == 413
    assert not documents.exists()


async def test_an_unsupported_type_is_415(client, documents):
    docx = await upload(client, "alice", "report.docx", b"PK\x03\x04", "application/octet-stream")
    json_body = await client.post("/api/v2/documents", params={"user_id": "alice"}, json={"file": "x"})

    assert docx.status_code == 415 and ".pdf" in docx.json()["detail"]
    assert json_body.status_code == 415
    assert not documents.exists()


async def test_a_pdf_that_cannot_be_parsed_is_422_naming_why_and_nothing_is_indexed(client, documents):
    before = await indexed_names()

    response = await upload(client, "alice", "broken.pdf", b"%PDF-1.7\n1 0 obj <<\ngarbage", "application/pdf")

    assert response.status_code == 422
    [issue] = response.json()["detail"]
    assert issue["loc"] == ["body", "file"] and issue["type"] == "unreadable_document"
    assert "could not be read" in issue["msg"]
    assert await indexed_names() == before
    assert not documents.exists()
    assert (await client.get("/api/v2/documents", params={"user_id": "alice"})).json() == {"documents": []}


async def test_a_document_over_the_chunk_limit_is_refused(client, documents, configure):
    configure(DOCUMENTS_MAX_CHUNKS="2")
    text = " ".join(f"Sentence number {i} says something about bicycles and their frames." for i in range(200))

    response = await upload(client, "alice", "long.txt", text.encode(), "text/plain")

    assert response.status_code == 413
    assert "over the 2 a document may make" in response.json()["detail"]
    assert not documents.exists()


async def test_a_form_without_a_file_is_422(client, documents):
    response = await client.post(
        "/api/v2/documents", params={"user_id": "alice"}, data={"note": "no file"}, files={"other": ("", b"")}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "file"]


async def test_the_file_name_cannot_leave_the_callers_folder(client, documents):
    response = await upload(client, "alice", "../../etc/passwd.md", b"# P\n\nnothing")

    assert response.status_code == 201, response.text
    document = response.json()
    assert document["filename"] == "passwd.md"
    assert (documents / document["name"]).is_file()
    await client.delete(f"/api/v2/documents/{document['id']}", params={"user_id": "alice"})


async def test_uploads_are_kept_in_blob_storage_with_their_principals_and_status(client, configure, azurite):
    from azure.storage.blob.aio import BlobServiceClient

    configure(
        AUTH_TRUST_ASSERTED_USERS="true",
        LLM_ANSWER_STRATEGY="extractive",
        DOCUMENTS_STORE="blob",
        DOCUMENTS_CONNECTION_STRING=azurite,
        DOCUMENTS_CONTAINER="uploads-test",
    )
    async with BlobServiceClient.from_connection_string(azurite) as service:
        container = service.get_container_client("uploads-test")
        await container.create_container()
        try:
            uploaded = (await upload(client, "alice", "couriers.md", f"# Couriers\n\n{FACT}\n".encode())).json()
            blob = container.get_blob_client(uploaded["name"])
            metadata = (await blob.get_blob_properties()).metadata
            found = await found_files(client, "alice")
            listed = (await client.get("/api/v2/documents", params={"user_id": "alice"})).json()["documents"]
            deleted = await client.delete(f"/api/v2/documents/{uploaded['id']}", params={"user_id": "alice"})
            left = [b.name async for b in container.list_blobs()]
        finally:
            await container.delete_container()

    assert json.loads(metadata["allowed_principals"]) == ["alice"]
    assert (metadata["index_state"], metadata["index_chunks"]) == ("indexed", str(uploaded["chunks"]))
    assert uploaded["name"] in found
    assert [(d["id"], d["status"]) for d in listed] == [(uploaded["id"], "indexed")]
    assert deleted.status_code == 204 and left == []
    assert uploaded["name"] not in await indexed_names()
