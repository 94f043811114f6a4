// The storage account: the Functions host's own storage (AzureWebJobsStorage), the Flex
// Consumption deployment package, the prompt templates, the attachments, and the documents
// the blob trigger keeps the search index in step with (with their dead-lettered events).
// Keys are off (allowSharedKeyAccess: false): every client signs in with Entra ID.

param name string
param location string
param tags object = {}

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
param skuName string = 'Standard_LRS'

@description('The container Flex Consumption deploys the app package to.')
param deploymentContainerName string

@description('Prompt templates (PROMPTS_BACKEND=blob).')
param promptsContainerName string = 'prompts'

@description('Attachments that POST /api/v1/chat/complete reads by storage_key.')
param attachmentsContainerName string = 'attachments'

@description('Documents kept in step with the search index: uploads (POST /api/v2/documents) and files dropped in.')
param documentsContainerName string = 'documents'

@description('Event Grid writes the document events it could not deliver here.')
param deadLetterContainerName string = 'documents-deadletter'

@description('Role assignments on the account: principalId, principalType, roleDefinitionId.')
param roleAssignments array = []

@description('Role assignments on the prompts container only (the deploying principal uploads templates).')
param promptsRoleAssignments array = []

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    // An overwritten or deleted template or attachment can be restored for a week.
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource promptsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: promptsContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource attachmentsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: attachmentsContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource documentsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: documentsContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for a in roleAssignments: {
  name: guid(storage.id, a.principalId, a.roleDefinitionId)
  scope: storage
  properties: {
    principalId: a.principalId
    principalType: a.principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.roleDefinitionId)
  }
}]

resource promptsAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for a in promptsRoleAssignments: {
  name: guid(promptsContainer.id, a.principalId, a.roleDefinitionId)
  scope: promptsContainer
  properties: {
    principalId: a.principalId
    principalType: a.principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.roleDefinitionId)
  }
}]

output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output deploymentContainerName string = deploymentContainer.name
output promptsContainerName string = promptsContainer.name
output attachmentsContainerName string = attachmentsContainer.name
output documentsContainerName string = documentsContainer.name
output deadLetterContainerName string = deadLetterContainer.name
