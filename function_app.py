"""The Azure Functions app: one HTTP function per declared endpoint, and the two functions that
keep the index in step with the documents container.

Endpoints are declared in shared/routes (one module per API family) with shared.http's
`api.operation`; the declarations register the functions and describe them in the OpenAPI
document. All of them use the FastAPI request/response types of
azurefunctions-extensions-http-fastapi, so streaming works on Azure. The blob trigger
(Event Grid source) and the BlobDeleted trigger are in shared/ingest/triggers.py.
"""

import azure.functions as func

from shared import warmup
from shared.config import declared_auth_level
from shared.http.access_log import mask_access_log
from shared.ingest import triggers
from shared.routes import api

# The worker's HTTP server logs each request line, query string included: no function key in it.
mask_access_log()

app = func.FunctionApp(http_auth_level=declared_auth_level().upper())
app.register_blueprint(api.blueprint)
app.register_blueprint(triggers.blueprint)


# No startup hook on Azure: what the first request needs loads meanwhile, in a thread.
warmup.start()
