// The API reference: Swagger UI (vendored in ./swagger-ui/) over the OpenAPI document this server generates.
// A file, not an inline script: the page's Content-Security-Policy runs scripts from this server only.
"use strict";

(function () {
  const root = document.getElementById("swagger-ui");
  if (root === null || typeof SwaggerUIBundle !== "function") {
    return;
  }
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    layout: "BaseLayout", // no top bar: the portal's header links the pages
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true, // /docs#/signals/listSignals opens that operation
    displayOperationId: true, // the ids SDK generators name their methods after
    validatorUrl: null, // no badge fetched from validator.swagger.io: nothing leaves this server
    tryItOutEnabled: false,
  });
})();
