// The API reference: this deployment's OpenAPI document in Swagger UI, with try-it-out.
// On Azure the document needs the function key: open /api/docs?code=<key>. The key is then
// dropped from the address bar (and the history) and sent as the x-functions-key header, so
// that it appears in no further address.
"use strict";

(function () {
  const address = new URL(window.location.href);
  const key = address.searchParams.get("code");
  if (key !== null) {
    address.searchParams.delete("code");
    window.history.replaceState(window.history.state, "", address);
  }
  const ui = window.SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#reference",
    deepLinking: false, // its anchor inside each operation's button is a control within a control (axe: nested-interactive)
    tryItOutEnabled: true,
    displayRequestDuration: true,
    requestInterceptor: function (request) {
      if (key && !request.headers["x-functions-key"]) {
        request.headers["x-functions-key"] = key;
      }
      return request;
    },
    onComplete: function () {
      if (key) {
        ui.preauthorizeApiKey("functionKey", key);
      }
    },
  });
})();
