// The Function App on the Flex Consumption plan (FC1), running as the user-assigned identity,
// and its app settings: Azure mode for every backend, Entra ID everywhere, no keys.

param name string
param planName string
param location string
param tags object = {}

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity: the host and DefaultAzureCredential pick it by this.')
param identityClientId string

param storageAccountName string

@description('The blob endpoint of the storage account, https://<account>.blob.core.windows.net/')
param storageBlobEndpoint string

param deploymentContainerName string
param promptsContainerName string
param attachmentsContainerName string

@description('The container the blob trigger keeps the search index in step with; uploads are kept there too.')
param documentsContainerName string

@secure()
@description('Passed in, not looked up here: a value known only at run time could not feed the settings loop below.')
param applicationInsightsConnectionString string

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

param openAiEndpoint string
param chatDeploymentName string

@description('The chat model accepts images (the -mm endpoints).')
param chatSupportsImages bool = true

param embeddingDeploymentName string
param embeddingDimensions int

param searchEndpoint string
param searchIndexName string

@description('Empty: no semantic reranking.')
param searchSemanticConfiguration string = ''

param cosmosEndpoint string
param cosmosDatabaseName string
param cosmosContainerName string
param historyTtlSeconds int

@description('Client id of the Entra ID app registration that bearer tokens for this API are issued for (the preprovision hook creates or reuses it). Unused when trustCallerAssertedUsers is true.')
param authClientId string = ''

@description('Trust the user id each request asserts (a backend calling behind the function key): turns bearer-token validation off. Off by default; the only switch that does.')
param trustCallerAssertedUsers bool = false

@description('Origins a browser page may call the API from; the platform answers their preflight. Empty: none.')
param corsAllowedOrigins array = []

// LLM_MODELS: one remote model, the chat deployment, reached with Entra ID (no api_key).
// Its keys are fields of shared.config.RemoteModel (tests/integration/test_infra.py checks them).
var llmModels = [
  {
    alias: chatDeploymentName
    provider: 'azure_openai'
    model: chatDeploymentName
    endpoint: openAiEndpoint
    supports_multimodal: chatSupportsImages
  }
]

// Every name here is either read by the app (shared/config.py, SETTINGS_CLASSES) or by the
// Functions host or the Azure SDK: tests/integration/test_infra.py holds both lists and checks this block.
// Not here on purpose: FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION (Flex
// Consumption takes the runtime from functionAppConfig and refuses them).
var appSettings = union({
  // Functions host storage through the identity: there are no keys (allowSharedKeyAccess: false).
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // DefaultAzureCredential in the app picks the user-assigned identity by this.
  AZURE_CLIENT_ID: identityClientId
  // The HTTP streaming extension (azurefunctions-extensions-http-fastapi) needs it.
  PYTHON_ENABLE_INIT_INDEXING: '1'
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  HTTP_AUTH_LEVEL: 'function'
  // Who the caller is: a validated Entra ID token, unless this deployment trusts the caller to say.
  AUTH_TOKEN_VALIDATION: trustCallerAssertedUsers ? 'false' : 'true'
  AUTH_TRUST_ASSERTED_USERS: trustCallerAssertedUsers ? 'true' : 'false'
  // Security trimming is on either way: a search finds only documents that list the caller
  // (the token's identity, or the asserted one). The index field is shared/retrieval/schema.py's.
  SEARCH_SECURITY_FIELD: 'allowed_principals'
  LLM_PROVIDER: 'none'
  LLM_MODELS: string(llmModels)
  LLM_DEFAULT_ALIAS: chatDeploymentName
  EMBEDDINGS_PROVIDER: 'azure_openai'
  EMBEDDINGS_ENDPOINT: openAiEndpoint
  EMBEDDINGS_DEPLOYMENT: embeddingDeploymentName
  EMBEDDINGS_DIMENSIONS: string(embeddingDimensions)
  SEARCH_BACKEND: 'azure'
  SEARCH_ENDPOINT: searchEndpoint
  SEARCH_INDEX_NAME: searchIndexName
  HISTORY_BACKEND: 'cosmos'
  HISTORY_COSMOS_ENDPOINT: cosmosEndpoint
  HISTORY_COSMOS_DATABASE: cosmosDatabaseName
  HISTORY_COSMOS_CONTAINER: cosmosContainerName
  HISTORY_TTL_SECONDS: string(historyTtlSeconds)
  PROMPTS_BACKEND: 'blob'
  PROMPTS_BLOB_ACCOUNT_URL: storageBlobEndpoint
  PROMPTS_BLOB_CONTAINER: promptsContainerName
  SOURCES_ATTACHMENTS_ACCOUNT_URL: storageBlobEndpoint
  SOURCES_ATTACHMENTS_CONTAINER: attachmentsContainerName
  // Uploads and the documents the blob trigger indexes (its connection is AzureWebJobsStorage's).
  DOCUMENTS_STORE: 'blob'
  DOCUMENTS_ACCOUNT_URL: storageBlobEndpoint
  DOCUMENTS_CONTAINER: documentsContainerName
}, trustCallerAssertedUsers ? {} : {
  // v2.0 tokens (the hook sets requestedAccessTokenVersion 2): aud is the client id; a token
  // asked for with the application ID URI as resource may carry the URI, so both are accepted.
  AUTH_ISSUER: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
  AUTH_AUDIENCE: string([
    authClientId
    'api://${authClientId}'
  ])
}, empty(searchSemanticConfiguration) ? {} : {
  SEARCH_SEMANTIC_CONFIGURATION: searchSemanticConfiguration
})

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // The platform's CORS (the app's own HTTP_CORS_ALLOWED_ORIGINS is for the local server).
      cors: {
        allowedOrigins: corsAllowedOrigins
        supportCredentials: false
      }
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      // The version the host-load check runs (the Makefile's .venv313; tests/integration/test_infra_defaults.py).
      runtime: {
        name: 'python'
        version: '3.13'
      }
    }
  }
}

// No publishing with a user name and password (FTP or the SCM site): azd deploys with Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output url string = 'https://${functionApp.properties.defaultHostName}'
