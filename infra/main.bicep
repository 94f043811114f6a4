// The whole Azure stack of the RAG chat backend, for `azd up` (or az deployment sub create).
//
// Subscription scope: the template creates its own resource group, rg-<environment name>,
// so one azd environment is one resource group and `azd down` removes all of it.
// Every data-plane call signs in with Entra ID: storage keys, Cosmos DB keys, search keys
// and Azure OpenAI keys are all disabled. Role assignments are listed below, with why.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment: names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Region of every resource: it must offer Flex Consumption and the chosen models.')
param location string

@description('Object id of the deploying user or service principal (azd passes AZURE_PRINCIPAL_ID). It gets the roles the post-provision hook needs; empty: none.')
param principalId string = ''

@description('What principalId is: User for a person, ServicePrincipal when azd runs in a pipeline (AZURE_PRINCIPAL_TYPE).')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('Client id of the Entra ID app registration for the API (AZURE_AUTH_CLIENT_ID): the preprovision hook creates or reuses it. Bearer tokens must be issued for it.')
param authClientId string = ''

@description('Trust the user id each request asserts, for a backend that calls behind the function key and vouches for its users (AZURE_TRUST_CALLER_ASSERTED_USERS): bearer tokens are then not validated. Default false.')
param trustCallerAssertedUsers bool = false

@description('Origins a browser page may call the API from, comma-separated without spaces, e.g. https://app.example.com,https://localhost:5173 (AZURE_CORS_ALLOWED_ORIGINS). Empty: none.')
param corsAllowedOrigins string = ''

@description('Default: rg-<environment name>.')
param resourceGroupName string = ''

@description('Flex Consumption: most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Flex Consumption: memory of each instance.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Cosmos DB: serverless (pay per request) or provisioned (autoscale throughput).')
@allowed([
  'serverless'
  'provisioned'
])
param cosmosCapacityMode string = 'serverless'

@description('Cosmos DB, provisioned mode only: autoscale maximum RU/s.')
@minValue(1000)
param cosmosAutoscaleMaxThroughput int = 1000

@description('Conversations expire this long after their last turn (HISTORY_TTL_SECONDS); default 30 days.')
@minValue(1)
param historyTtlSeconds int = 2592000

@allowed([
  'free'
  'basic'
  'standard'
  'standard2'
  'standard3'
])
param searchSku string = 'basic'

@description('Semantic ranker plan; when not disabled, the index gets the semantic configuration "default" and the app reranks with it.')
@allowed([
  'disabled'
  'free'
  'standard'
])
param searchSemanticRanker string = 'disabled'

param searchIndexName string = 'docs'

param chatModelName string = 'gpt-4o-mini'
param chatModelVersion string = '2024-07-18'
param chatDeploymentName string = chatModelName
param chatDeploymentSku string = 'GlobalStandard'

@description('Thousands of tokens per minute.')
param chatDeploymentCapacity int = 30

@description('The chat model accepts images (gpt-4o-mini does).')
param chatSupportsImages bool = true

param embeddingModelName string = 'text-embedding-3-small'
param embeddingModelVersion string = '1'
param embeddingDeploymentName string = embeddingModelName
param embeddingDeploymentSku string = 'Standard'

@description('Thousands of tokens per minute.')
param embeddingDeploymentCapacity int = 30

@description('Vector size of the index and of every embedding request (text-embedding-3-small: up to 1536).')
@minValue(1)
param embeddingDimensions int = 1536

var tags = {
  'azd-env-name': environmentName
}
var token = toLower(uniqueString(subscription().id, environmentName, location))
var deploymentContainerName = 'app-package-${take(token, 7)}'
var applicationInsightsName = 'appi-${token}'
var semanticConfiguration = searchSemanticRanker == 'disabled' || searchSku == 'free' ? '' : 'default'

// Built-in role definitions (Azure RBAC).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  searchIndexDataContributor: '8ebe5a00-799e-43f5-93ac-243d3dce84a7'
  searchServiceContributor: '7ca78c08-252a-4471-8644-bb5ff32d4ba0'
  cognitiveServicesOpenAIUser: '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${token}'
    location: location
    tags: tags
  }
}

var app = {
  principalId: identity.outputs.principalId
  principalType: 'ServicePrincipal'
}
var deployer = {
  principalId: principalId
  principalType: principalType
}
var hasDeployer = !empty(principalId)

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${token}'
    applicationInsightsName: applicationInsightsName
    location: location
    tags: tags
    roleAssignments: [
      // The app exports its traces with Entra ID (shared/telemetry.py passes a credential).
      union(app, {
        roleDefinitionId: roles.monitoringMetricsPublisher
      })
    ]
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${token}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    roleAssignments: [
      // AzureWebJobsStorage with an identity: Microsoft documents Storage Blob Data Owner as the
      // host minimum (coordination blobs, the key store, creating its containers). It also covers
      // the deployment package, the prompt templates and the attachments the app reads.
      union(app, {
        roleDefinitionId: roles.storageBlobDataOwner
      })
      // Documented for the host diagnostic events (kept in tables): they explain a failed start.
      union(app, {
        roleDefinitionId: roles.storageTableDataContributor
      })
      // The blob trigger (document_changed) queues its work and, after five failed tries, puts
      // the blob on the webjobs-blobtrigger-poison queue.
      union(app, {
        roleDefinitionId: roles.storageQueueDataContributor
      })
    ]
    // The hook uploads prompts/ (python -m shared.templates.upload): that container only.
    promptsRoleAssignments: hasDeployer ? [
      union(deployer, {
        roleDefinitionId: roles.storageBlobDataContributor
      })
    ] : []
  }
}

// Blob Storage's events, for the documents container's subscriptions (infra/documents_events.bicep).
module documentsEvents 'modules/documents-events.bicep' = {
  name: 'documents-events'
  scope: rg
  params: {
    name: 'evgt-${token}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    deadLetterContainerName: storage.outputs.deadLetterContainerName
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: 'cosmos-${token}'
    location: location
    tags: tags
    capacityMode: cosmosCapacityMode
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    // Cosmos DB Built-in Data Contributor, a data-plane role scoped to the account: the app
    // reads and writes conversations. Nobody else needs data access.
    dataContributorPrincipalIds: [
      identity.outputs.principalId
    ]
  }
}

module search 'modules/search.bicep' = {
  name: 'search'
  scope: rg
  params: {
    name: 'srch-${token}'
    location: location
    tags: tags
    skuName: searchSku
    semanticSearch: searchSemanticRanker
    // The app queries the index and writes the documents users upload and the blob trigger
    // indexes: Search Index Data Contributor (data only; it cannot change the index). The deploying
    // principal creates the index (Search Service Contributor) and uploads the sample corpus.
    roleAssignments: concat([
      union(app, {
        roleDefinitionId: roles.searchIndexDataContributor
      })
    ], hasDeployer ? [
      union(deployer, {
        roleDefinitionId: roles.searchServiceContributor
      })
      union(deployer, {
        roleDefinitionId: roles.searchIndexDataContributor
      })
    ] : [])
  }
}

module openAi 'modules/openai.bicep' = {
  name: 'openai'
  scope: rg
  params: {
    name: 'oai-${token}'
    location: location
    tags: tags
    chatDeploymentName: chatDeploymentName
    chatModelName: chatModelName
    chatModelVersion: chatModelVersion
    chatDeploymentSku: chatDeploymentSku
    chatDeploymentCapacity: chatDeploymentCapacity
    embeddingDeploymentName: embeddingDeploymentName
    embeddingModelName: embeddingModelName
    embeddingModelVersion: embeddingModelVersion
    embeddingDeploymentSku: embeddingDeploymentSku
    embeddingDeploymentCapacity: embeddingDeploymentCapacity
    // Chat and embeddings for the app; embeddings for the ingestion the hook runs.
    roleAssignments: concat([
      union(app, {
        roleDefinitionId: roles.cognitiveServicesOpenAIUser
      })
    ], hasDeployer ? [
      union(deployer, {
        roleDefinitionId: roles.cognitiveServicesOpenAIUser
      })
    ] : [])
  }
}

// Read here and handed to the Function App as a secure parameter: never a deployment output.
resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
  scope: rg
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: 'func-${token}'
    planName: 'plan-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    promptsContainerName: storage.outputs.promptsContainerName
    attachmentsContainerName: storage.outputs.attachmentsContainerName
    documentsContainerName: storage.outputs.documentsContainerName
    applicationInsightsConnectionString: appInsights.properties.ConnectionString
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    openAiEndpoint: openAi.outputs.endpoint
    chatDeploymentName: openAi.outputs.chatDeploymentName
    chatSupportsImages: chatSupportsImages
    embeddingDeploymentName: openAi.outputs.embeddingDeploymentName
    embeddingDimensions: embeddingDimensions
    searchEndpoint: search.outputs.endpoint
    searchIndexName: searchIndexName
    searchSemanticConfiguration: semanticConfiguration
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    cosmosContainerName: cosmos.outputs.containerName
    historyTtlSeconds: historyTtlSeconds
    authClientId: authClientId
    trustCallerAssertedUsers: trustCallerAssertedUsers
    corsAllowedOrigins: empty(corsAllowedOrigins) ? [] : split(corsAllowedOrigins, ',')
  }
  // The connection string is read from Application Insights: it must exist first.
  dependsOn: [
    monitoring
  ]
}

// azd writes these to .azure/<env>/.env and exports them to the hooks; infra/hooks/postprovision.sh
// maps them to the app's own settings (SEARCH_ENDPOINT, EMBEDDINGS_*, PROMPTS_BLOB_*).
// The Application Insights connection string is not among them: it stays in the app settings.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = functionApp.outputs.url
output AZURE_SEARCH_ENDPOINT string = search.outputs.endpoint
output AZURE_SEARCH_INDEX_NAME string = searchIndexName
output AZURE_SEARCH_SEMANTIC_CONFIGURATION string = semanticConfiguration
output AZURE_OPENAI_ENDPOINT string = openAi.outputs.endpoint
output AZURE_OPENAI_CHAT_DEPLOYMENT string = openAi.outputs.chatDeploymentName
output AZURE_OPENAI_EMBEDDING_DEPLOYMENT string = openAi.outputs.embeddingDeploymentName
output AZURE_OPENAI_EMBEDDING_DIMENSIONS int = embeddingDimensions
output AZURE_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output AZURE_COSMOS_DATABASE string = cosmos.outputs.databaseName
output AZURE_COSMOS_CONTAINER string = cosmos.outputs.containerName
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_STORAGE_PROMPTS_CONTAINER string = storage.outputs.promptsContainerName
output AZURE_STORAGE_ATTACHMENTS_CONTAINER string = storage.outputs.attachmentsContainerName
// The postdeploy hook subscribes the functions to the documents container's events.
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_DOCUMENTS_CONTAINER string = storage.outputs.documentsContainerName
output AZURE_STORAGE_DEAD_LETTER_CONTAINER string = storage.outputs.deadLetterContainerName
output AZURE_DOCUMENTS_EVENTS_TOPIC string = documentsEvents.outputs.name
// The hook shares the sample corpus with the deploying principal (allowed_principals).
output AZURE_DEPLOYER_PRINCIPAL_ID string = principalId
