"""The Azure Functions app: one HTTP function per declared endpoint, nothing else.

Endpoints are declared in shared/routes (one module per API family) with shared.http's
`api.operation`; the declarations register the functions and describe them in the OpenAPI
document. All of them use the FastAPI request/response types of
azurefunctions-extensions-http-fastapi, so streaming works on Azure.
"""

import azure.functions as func

from shared.config import get_settings
from shared.routes import api

app = func.FunctionApp(http_auth_level=get_settings().http.auth_level.upper())
app.register_blueprint(api.blueprint)
