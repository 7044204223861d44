// Starts Swagger UI on the page's #swagger-ui element. The document's URL comes from the
// element's data-spec-url, so that the page itself holds no script: its CSP allows none inline.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // No badge that sends the document to an outside validator.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
