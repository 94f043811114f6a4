# The Windows twin of postprovision.sh: same steps, same settings (see the comments there).
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '..' '..')

if (-not $env:AZURE_SEARCH_ENDPOINT) {
    throw 'AZURE_SEARCH_ENDPOINT is not set: run this through azd (azd provision or azd up)'
}

# requirements.txt and tqdm only: what the index and upload commands import.
$venv = '.venv-deploy'
$python = Join-Path $venv 'Scripts' 'python.exe'
if (-not (Test-Path $python)) {
    $base = if ($env:PYTHON) { $env:PYTHON } else { 'python' }
    & $base -m venv $venv
    if ($LASTEXITCODE -ne 0) { throw 'could not create the virtual environment' }
}
& $python -m pip install --quiet --disable-pip-version-check -r requirements.txt tqdm
if ($LASTEXITCODE -ne 0) { throw 'pip install failed' }

$env:SEARCH_BACKEND = 'azure'
$env:SEARCH_ENDPOINT = $env:AZURE_SEARCH_ENDPOINT
$env:SEARCH_INDEX_NAME = $env:AZURE_SEARCH_INDEX_NAME
$env:SEARCH_SEMANTIC_CONFIGURATION = $env:AZURE_SEARCH_SEMANTIC_CONFIGURATION
$env:EMBEDDINGS_PROVIDER = 'azure_openai'
$env:EMBEDDINGS_ENDPOINT = $env:AZURE_OPENAI_ENDPOINT
$env:EMBEDDINGS_DEPLOYMENT = $env:AZURE_OPENAI_EMBEDDING_DEPLOYMENT
$env:EMBEDDINGS_DIMENSIONS = $env:AZURE_OPENAI_EMBEDDING_DIMENSIONS
$env:PROMPTS_BACKEND = 'blob'
$env:PROMPTS_BLOB_ACCOUNT_URL = $env:AZURE_STORAGE_BLOB_ENDPOINT
$env:PROMPTS_BLOB_CONTAINER = $env:AZURE_STORAGE_PROMPTS_CONTAINER
foreach ($name in 'SEARCH_API_KEY', 'EMBEDDINGS_API_KEY', 'PROMPTS_BLOB_CONNECTION_STRING', 'PROMPTS_BLOB_ACCOUNT_KEY') {
    Remove-Item "Env:$name" -ErrorAction SilentlyContinue
}

# Role assignments can take minutes to apply; both commands are safe to re-run.
function Invoke-WithRetry([string[]]$Arguments) {
    for ($attempt = 1; ; $attempt++) {
        & $python @Arguments
        if ($LASTEXITCODE -eq 0) { return }
        if ($attempt -ge 6) { throw "giving up after $attempt attempts: $Arguments" }
        Write-Warning 'retrying in 30 s (role assignments may still be propagating)'
        Start-Sleep -Seconds 30
    }
}

# Security trimming is on: the sample files (no allowed_principals) go to the deploying principal.
$ingest = @('-m', 'devtools.ingest', 'samples/corpus')
if ($env:AZURE_DEPLOYER_PRINCIPAL_ID) {
    $ingest += @('--default-principal', $env:AZURE_DEPLOYER_PRINCIPAL_ID)
}

Invoke-WithRetry @('-m', 'shared.templates.upload', 'prompts')
Invoke-WithRetry $ingest
