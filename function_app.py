"""The Azure Functions app: registers one HTTP function per endpoint, nothing else.

Handlers live in shared/routes (one Blueprint per API family); they parse the request,
call the orchestration core, and write the response. All of them use the FastAPI
request/response types of azurefunctions-extensions-http-fastapi, so streaming works on Azure.
"""

import azure.functions as func

from shared.config import get_settings
from shared.routes import (
    chat_complete,
    feedback,
    openai_compat,
    openai_responses,
    openapi,
    session_chat,
    sources,
    v2,
    web,
)

app = func.FunctionApp(http_auth_level=get_settings().http.auth_level.upper())
app.register_blueprint(v2.blueprint)
app.register_blueprint(openai_compat.blueprint)
app.register_blueprint(openai_responses.blueprint)
app.register_blueprint(session_chat.blueprint)
app.register_blueprint(chat_complete.blueprint)
app.register_blueprint(sources.blueprint)
app.register_blueprint(feedback.blueprint)
app.register_blueprint(openapi.blueprint)
app.register_blueprint(web.blueprint)
