#!/bin/sh
# azd runs this after `azd deploy` (and `azd up`): the code with the document triggers is
# deployed, so the Functions host has the webhook keys the Event Grid subscriptions need.
# It deploys infra/documents_events.bicep, which subscribes document_changed (BlobCreated)
# and document_deleted (BlobDeleted) to the documents container's events. Safe to re-run.
set -eu
cd "$(dirname "$0")/../.."

: "${AZURE_RESOURCE_GROUP:?is not set: run this through azd (azd deploy or azd up)}"

# The host creates the extensions' system keys when it first starts with the triggers: a
# fresh deployment may need a moment, so a refused attempt is tried again.
attempt=1
until az deployment group create --only-show-errors --output none \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name documents-events \
  --template-file infra/documents_events.bicep \
  --parameters functionAppName="$AZURE_FUNCTION_APP_NAME" \
    systemTopicName="$AZURE_DOCUMENTS_EVENTS_TOPIC" \
    storageAccountName="$AZURE_STORAGE_ACCOUNT_NAME" \
    documentsContainerName="$AZURE_STORAGE_DOCUMENTS_CONTAINER" \
    deadLetterContainerName="$AZURE_STORAGE_DEAD_LETTER_CONTAINER"; do
  if [ "$attempt" -ge 5 ]; then
    echo "could not subscribe the document triggers; run infra/hooks/postdeploy.sh again later" >&2
    exit 1
  fi
  echo "the Functions host is not ready yet (attempt $attempt); trying again in 30 s" >&2
  attempt=$((attempt + 1))
  sleep 30
done
echo "document events: the blob trigger and the BlobDeleted trigger are subscribed"
