// A local Cosmos DB for the tests: @vercel/cosmosdb-server (in memory, HTTPS with its
// bundled self-signed certificate) on 127.0.0.1, with Cosmos-style 404s on top.
//
//     node tests/cosmos_emulator.js --port 8081
//
// A point read of a missing document answers 500 in cosmosdb-server 1.0.1 (its
// read-document handler dereferences the missing document); Cosmos DB answers 404. And
// every 404 gets Cosmos' error body, {"code": "NotFound", "message": ...}, where the
// package sends an empty one (missing database, container, or document on replace/delete).

"use strict";

const server = require("@vercel/cosmosdb-server");
// The request listener looks a route up through this module's `default` on every request,
// so replacing that function is enough to put a handler in front of any route.
const routes = require("@vercel/cosmosdb-server/lib/routes");
const readDocument = require("@vercel/cosmosdb-server/lib/handler/read-document").default;
const { parsePartitionKey } = require("@vercel/cosmosdb-server/lib/utils/get-partition-from-header");

const NOT_FOUND = { code: "NotFound", message: "Entity with the specified id does not exist in the system." };

// True when the request names an existing container but no document with that id in the
// partition of its x-ms-documentdb-partitionkey header.
function isMissingDocument(account, req, { dbId, collId, docId }) {
  const collection = account.database(dbId).collection(collId);
  if (!collection.read()) return false; // the package's handler already answers 404
  let partition;
  try {
    partition = parsePartitionKey(req.headers["x-ms-documentdb-partitionkey"], docId);
  } catch {
    return false; // malformed or absent header: left to the package
  }
  return !collection.document(docId, partition).read();
}

function withCosmosErrors(handler) {
  return async (account, req, res, params) => {
    if (handler === readDocument && isMissingDocument(account, req, params)) {
      res.statusCode = 404;
      return { ...NOT_FOUND };
    }
    const body = await handler(account, req, res, params);
    if (res.statusCode === 404 && !(body && body.code)) return { ...NOT_FOUND };
    return body;
  };
}

const findRoute = routes.default;
routes.default = (req) => {
  const route = findRoute(req);
  return route && [route[0], withCosmosErrors(route[1])];
};

const portArg = process.argv.indexOf("--port");
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 8081;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error("usage: node tests/cosmos_emulator.js --port N");
  process.exit(2);
}

const emulator = server.createHttpsServer().listen(port, "127.0.0.1", () => {
  console.log(`cosmos emulator listening on https://127.0.0.1:${emulator.address().port}`);
});

// Everything is in memory: on the test fixture's terminate() there is nothing to flush.
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
