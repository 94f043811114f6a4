// The one identity the Function App runs as: the Functions host (its storage, its deployment
// package) and the app's own clients (DefaultAzureCredential with AZURE_CLIENT_ID) use it.
// A user-assigned identity exists before the app does, so every role assignment is in place
// when the app first starts.

@description('Name of the user-assigned managed identity.')
param name string

param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
