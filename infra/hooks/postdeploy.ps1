# azd runs this after `azd deploy` (and `azd up`) on Windows: the twin of postdeploy.sh. It
# deploys infra/documents_events.bicep, which subscribes the document triggers to the
# documents container's events (their webhook keys exist once the code is deployed).
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '../..')

if (-not $env:AZURE_RESOURCE_GROUP) { throw 'AZURE_RESOURCE_GROUP is not set: run this through azd (azd deploy or azd up)' }

for ($attempt = 1; ; $attempt++) {
  az deployment group create --only-show-errors --output none `
    --resource-group $env:AZURE_RESOURCE_GROUP `
    --name documents-events `
    --template-file infra/documents_events.bicep `
    --parameters functionAppName=$env:AZURE_FUNCTION_APP_NAME `
      systemTopicName=$env:AZURE_DOCUMENTS_EVENTS_TOPIC `
      storageAccountName=$env:AZURE_STORAGE_ACCOUNT_NAME `
      documentsContainerName=$env:AZURE_STORAGE_DOCUMENTS_CONTAINER `
      deadLetterContainerName=$env:AZURE_STORAGE_DEAD_LETTER_CONTAINER
  if ($LASTEXITCODE -eq 0) { break }
  if ($attempt -ge 5) { throw 'could not subscribe the document triggers; run infra/hooks/postdeploy.ps1 again later' }
  Write-Warning "the Functions host is not ready yet (attempt $attempt); trying again in 30 s"
  Start-Sleep -Seconds 30
}
Write-Output 'document events: the blob trigger and the BlobDeleted trigger are subscribed'
