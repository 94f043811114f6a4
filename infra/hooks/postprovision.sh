#!/bin/sh
# azd runs this after `azd provision` (and `azd up`), with the outputs of infra/main.bicep
# exported. It creates or updates the search index, indexes samples/corpus, and uploads the
# prompt templates, with the project's own commands. They sign in as the deploying user
# (Entra ID: DefaultAzureCredential finds the azd or az login); main.bicep gave that user
# the roles for it. No keys: every service has them disabled.
set -eu
cd "$(dirname "$0")/../.."

: "${AZURE_SEARCH_ENDPOINT:?is not set: run this through azd (azd provision or azd up)}"

# Its own environment, with only what the two commands import: requirements.txt (the Azure
# SDKs, openai, numpy, pypdf, beautifulsoup4, tiktoken) and tqdm (the ingestion progress bar;
# today it also arrives with openai). Not requirements-local.txt: no local model runs here.
# Chunking counts tokens with tiktoken, which downloads its cl100k file once.
VENV=.venv-deploy
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt tqdm

# Our settings, from the provision outputs.
export SEARCH_BACKEND=azure
export SEARCH_ENDPOINT="$AZURE_SEARCH_ENDPOINT"
export SEARCH_INDEX_NAME="$AZURE_SEARCH_INDEX_NAME"
export SEARCH_SEMANTIC_CONFIGURATION="${AZURE_SEARCH_SEMANTIC_CONFIGURATION:-}"
export EMBEDDINGS_PROVIDER=azure_openai
export EMBEDDINGS_ENDPOINT="$AZURE_OPENAI_ENDPOINT"
export EMBEDDINGS_DEPLOYMENT="$AZURE_OPENAI_EMBEDDING_DEPLOYMENT"
export EMBEDDINGS_DIMENSIONS="$AZURE_OPENAI_EMBEDDING_DIMENSIONS"
export PROMPTS_BACKEND=blob
export PROMPTS_BLOB_ACCOUNT_URL="$AZURE_STORAGE_BLOB_ENDPOINT"
export PROMPTS_BLOB_CONTAINER="$AZURE_STORAGE_PROMPTS_CONTAINER"
# Keys from a local setup would be tried instead of Entra ID: the services refuse keys.
unset SEARCH_API_KEY EMBEDDINGS_API_KEY PROMPTS_BLOB_CONNECTION_STRING PROMPTS_BLOB_ACCOUNT_KEY

# New role assignments can take a few minutes to apply. Both commands are safe to re-run
# (unchanged templates and files are skipped), so a refused attempt is simply tried again.
retry() {
  attempt=1
  until "$@"; do
    if [ "$attempt" -ge 6 ]; then
      echo "postprovision: giving up after $attempt attempts: $*" >&2
      return 1
    fi
    echo "postprovision: retrying in 30 s (role assignments may still be propagating)" >&2
    attempt=$((attempt + 1))
    sleep 30
  done
}

# The deployed app trims search results to what the caller may see (SEARCH_SECURITY_FIELD),
# and the sample files list no allowed_principals: share them with the deploying principal,
# the one identity known here. Without it they are indexed, and no one finds them.
set --
if [ -n "${AZURE_DEPLOYER_PRINCIPAL_ID:-}" ]; then
  set -- --default-principal "$AZURE_DEPLOYER_PRINCIPAL_ID"
fi

retry "$VENV/bin/python" -m shared.templates.upload prompts
retry "$VENV/bin/python" -m devtools.ingest samples/corpus "$@"
