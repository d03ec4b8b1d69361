/** Starts Swagger UI on /openapi.json; no validator badge, which would call validator.swagger.io. */
export const DOCS_INIT_JS = `'use strict';
window.ui = window.SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
`;
