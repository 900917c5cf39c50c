// Renders the API's own OpenAPI document, from this server only: no validator badge (it
// would call validator.swagger.io), no other host.
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: "none",
    tryItOutEnabled: false,
    presets: [SwaggerUIBundle.presets.apis],
  });
};
