// Cosmos DB for NoSQL: conversation history (shared/history/cosmos.py).
// Entra ID only (disableLocalAuth); the app gets the built-in data-plane role, scoped to the account.

param name string
param location string
param tags object = {}

@description('serverless: pay per request, the default; provisioned: autoscale throughput on the database.')
@allowed([
  'serverless'
  'provisioned'
])
param capacityMode string = 'serverless'

@description('Provisioned mode only: the autoscale maximum in RU/s, shared by the database containers.')
@minValue(1000)
param autoscaleMaxThroughput int = 1000

param databaseName string = 'chat'
param containerName string = 'history'

@description('Principals (object ids) given Cosmos DB Built-in Data Contributor on the account.')
param dataContributorPrincipalIds array = []

// Cosmos DB Built-in Data Contributor: a data-plane role, not an Azure RBAC one.
var dataContributorRoleId = '00000000-0000-0000-0000-000000000002'
var serverless = capacityMode == 'serverless'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    capabilities: serverless ? [
      {
        name: 'EnableServerless'
      }
    ] : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
    enableAutomaticFailover: false
    enableFreeTier: false
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    options: serverless ? {} : {
      autoscaleSettings: {
        maxThroughput: autoscaleMaxThroughput
      }
    }
  }
}

// One partition per user: a session is a point read of (session id, user id), listing a
// user's sessions is a single-partition query. defaultTtl -1 turns TTL on without a default:
// items expire only when they carry a ttl (HISTORY_TTL_SECONDS).
resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      partitionKey: {
        paths: [
          '/userId'
        ]
        kind: 'Hash'
        version: 2
      }
      defaultTtl: -1
      // Queries filter on userId, type and sessionId and sort on updatedAt: the messages
      // themselves are never queried, so they are not indexed (cheaper writes).
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          {
            path: '/*'
          }
        ]
        excludedPaths: [
          {
            path: '/messages/*'
          }
          {
            path: '/pages/*'
          }
          {
            path: '/"_etag"/?'
          }
        ]
      }
    }
  }
}

resource dataContributors 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = [for principalId in dataContributorPrincipalIds: {
  parent: account
  name: guid(account.id, principalId, dataContributorRoleId)
  properties: {
    principalId: principalId
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRoleId}'
    scope: account.id
  }
}]

output name string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
output containerName string = container.name
