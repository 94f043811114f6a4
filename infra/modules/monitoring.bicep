// Log Analytics workspace and a workspace-based Application Insights resource.
//
// Local authentication stays enabled on Application Insights: the Functions host sends its own
// telemetry with the connection string (Entra ID for the host would need one more app setting,
// APPLICATIONINSIGHTS_AUTHENTICATION_STRING). The app's own exporter (shared/telemetry.py) signs
// in with Entra ID, which needs Monitoring Metrics Publisher: main.bicep passes that assignment.

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('Role assignments on the Application Insights resource: principalId, principalType, roleDefinitionId.')
param roleAssignments array = []

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: false
  }
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for a in roleAssignments: {
  name: guid(appInsights.id, a.principalId, a.roleDefinitionId)
  scope: appInsights
  properties: {
    principalId: a.principalId
    principalType: a.principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.roleDefinitionId)
  }
}]

output applicationInsightsName string = appInsights.name
output logAnalyticsWorkspaceId string = workspace.id
