// Azure AI Search: the knowledge base. Entra ID only (disableLocalAuth, so no authOptions).
// The index itself is created by the post-provision hook (python -m devtools.ingest), from the
// same definition the app uses (shared/retrieval/azure_search.py).

param name string
param location string
param tags object = {}

@allowed([
  'free'
  'basic'
  'standard'
  'standard2'
  'standard3'
])
param skuName string = 'basic'

@description('Semantic ranker plan: disabled, free (limited queries a month) or standard. Not on the free tier.')
@allowed([
  'disabled'
  'free'
  'standard'
])
param semanticSearch string = 'disabled'

@minValue(1)
@maxValue(12)
param replicaCount int = 1

@description('Role assignments on the service: principalId, principalType, roleDefinitionId.')
param roleAssignments array = []

resource search 'Microsoft.Search/searchServices@2023-11-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    replicaCount: replicaCount
    partitionCount: 1
    hostingMode: 'default'
    disableLocalAuth: true
    publicNetworkAccess: 'enabled'
    semanticSearch: skuName == 'free' ? null : semanticSearch
  }
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for a in roleAssignments: {
  name: guid(search.id, a.principalId, a.roleDefinitionId)
  scope: search
  properties: {
    principalId: a.principalId
    principalType: a.principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.roleDefinitionId)
  }
}]

output name string = search.name
output endpoint string = 'https://${search.name}.search.windows.net'
