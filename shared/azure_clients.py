"""Azure SDK clients built from the settings: Azure AI Search, the Cosmos DB container of
conversations and Blob Storage containers. Each signs in with a key when one is configured,
else with Entra ID (managed identity); the SDKs are imported on first use (cold start)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.config import get_settings

if TYPE_CHECKING:
    from azure.cosmos.aio import ContainerProxy
    from azure.search.documents.aio import SearchClient
    from azure.storage.blob.aio import ContainerClient
    from pydantic import SecretStr


def search_credential(api_key: SecretStr | None = None) -> Any:
    key = api_key or get_settings().search.api_key
    if key:
        from azure.core.credentials import AzureKeyCredential

        return AzureKeyCredential(key.get_secret_value())
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential()


def search_client() -> SearchClient:
    from azure.search.documents.aio import SearchClient

    settings = get_settings().search
    return SearchClient(settings.endpoint, settings.index_name, search_credential())


def history_container() -> ContainerProxy:
    """The Cosmos DB container of conversations, with a key or Entra ID (managed identity)."""
    from azure.cosmos.aio import CosmosClient

    settings = get_settings().history
    if settings.cosmos_key:
        credential: Any = settings.cosmos_key.get_secret_value()
    else:
        from azure.identity.aio import DefaultAzureCredential

        credential = DefaultAzureCredential()
    client = CosmosClient(settings.cosmos_endpoint, credential=credential)
    return client.get_database_client(settings.cosmos_database).get_container_client(settings.cosmos_container)


def blob_container(
    connection_string: SecretStr | None, account_url: str | None, account_key: SecretStr | None, container: str
) -> ContainerClient:
    """A Blob container by connection string, account URL with key, or Entra ID (managed identity)."""
    from azure.storage.blob.aio import BlobServiceClient

    if connection_string:
        service = BlobServiceClient.from_connection_string(connection_string.get_secret_value())
    elif account_key:
        service = BlobServiceClient(account_url, credential=account_key.get_secret_value())
    else:
        from azure.identity.aio import DefaultAzureCredential

        service = BlobServiceClient(account_url, credential=DefaultAzureCredential())
    return service.get_container_client(container)
