// The API reference: this deployment's OpenAPI document in Swagger UI, with try-it-out.
// On Azure the document needs the function key: open /api/docs?code=<key> and it is passed on.
"use strict";

(function () {
  const key = new URLSearchParams(window.location.search).get("code");
  const ui = window.SwaggerUIBundle({
    url: "openapi.json" + (key ? "?code=" + encodeURIComponent(key) : ""),
    dom_id: "#reference",
    deepLinking: true,
    tryItOutEnabled: true,
    displayRequestDuration: true,
    onComplete: function () {
      if (key) {
        ui.preauthorizeApiKey("functionKey", key);
      }
    },
  });
})();
