// The Event Grid subscriptions that keep the search index in step with the documents
// container, deployed by azd's postdeploy hook (infra/hooks/postdeploy.sh): their endpoints
// carry the Functions host's webhook keys, which exist only once the code with the triggers
// is deployed, and Event Grid validates an endpoint when the subscription is created.
//
// - BlobCreated -> the blob trigger document_changed (Event Grid source, the Flex Consumption
//   blob trigger), through the host's blobs webhook.
// - BlobDeleted -> the Event Grid trigger document_deleted: the blob trigger never sees deletes.
// Event Grid retries each delivery (retryPolicy), then writes the event to the dead-letter
// container with the system topic's own identity.
targetScope = 'resourceGroup'

param functionAppName string
param systemTopicName string
param storageAccountName string
param documentsContainerName string = 'documents'
param deadLetterContainerName string = 'documents-deadletter'

@description('Deliveries of one event before it is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 10

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

var host = 'https://${functionApp.properties.defaultHostName}/runtime/webhooks'
var subject = '/blobServices/default/containers/${documentsContainerName}/blobs/'
var deadLetter = {
  identity: {
    type: 'SystemAssigned'
  }
  deadLetterDestination: {
    endpointType: 'StorageBlob'
    properties: {
      resourceId: storage.id
      blobContainerName: deadLetterContainerName
    }
  }
}
var retryPolicy = {
  maxDeliveryAttempts: maxDeliveryAttempts
  eventTimeToLiveInMinutes: 1440
}

resource changed 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'documents-changed'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: '${host}/blobs?functionName=Host.Functions.document_changed&code=${listKeys('${functionApp.id}/host/default', '2024-04-01').systemKeys.blobs_extension}'
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      subjectBeginsWith: subject
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
    }
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}

resource deleted 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'documents-deleted'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: '${host}/eventgrid?functionName=document_deleted&code=${listKeys('${functionApp.id}/host/default', '2024-04-01').systemKeys.eventgrid_extension}'
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      subjectBeginsWith: subject
      includedEventTypes: [
        'Microsoft.Storage.BlobDeleted'
      ]
    }
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}
