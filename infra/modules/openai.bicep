// Azure OpenAI: one chat deployment and one embedding deployment. Entra ID only
// (disableLocalAuth): the app and the ingestion sign in with Cognitive Services OpenAI User.

param name string
param location string
param tags object = {}

param chatDeploymentName string
param chatModelName string
param chatModelVersion string
param chatDeploymentSku string
param chatDeploymentCapacity int

param embeddingDeploymentName string
param embeddingModelName string
param embeddingModelVersion string
param embeddingDeploymentSku string
param embeddingDeploymentCapacity int

@description('Role assignments on the account: principalId, principalType, roleDefinitionId.')
param roleAssignments array = []

resource openAi 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  // Holds no role: ready for customer-managed keys, which sign in as the account itself.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    // Entra ID tokens need a custom subdomain (https://<name>.openai.azure.com).
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
    }
  }
}

resource chat 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: openAi
  name: chatDeploymentName
  sku: {
    name: chatDeploymentSku
    capacity: chatDeploymentCapacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: chatModelName
      version: chatModelVersion
    }
    versionUpgradeOption: 'OnceNewDefaultVersionAvailable'
  }
}

// Deployments of one account cannot be created in parallel: the embedding one waits.
resource embedding 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: openAi
  name: embeddingDeploymentName
  sku: {
    name: embeddingDeploymentSku
    capacity: embeddingDeploymentCapacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: embeddingModelName
      version: embeddingModelVersion
    }
    versionUpgradeOption: 'OnceNewDefaultVersionAvailable'
  }
  dependsOn: [
    chat
  ]
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for a in roleAssignments: {
  name: guid(openAi.id, a.principalId, a.roleDefinitionId)
  scope: openAi
  properties: {
    principalId: a.principalId
    principalType: a.principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.roleDefinitionId)
  }
}]

output name string = openAi.name
output endpoint string = openAi.properties.endpoint
output chatDeploymentName string = chat.name
output embeddingDeploymentName string = embedding.name
