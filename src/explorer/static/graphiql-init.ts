/** What the headers editor starts with; the token replaces the placeholder. */
export const TOKEN_PLACEHOLDER = '<paste a token>';

const DEFAULT_HEADERS = `{
  "Authorization": "Bearer ${TOKEN_PLACEHOLDER}"
}`;

const DEFAULT_QUERY = `# users-api GraphiQL
#
# 1. Open "Headers" below and replace ${TOKEN_PLACEHOLDER}
#    with a token: the demo token printed at start-up, or
#    npm run cli -- token create --user usr_… --kind pat
# 2. Press the run button (Ctrl-Enter) to see who you are.
#
# To change your own record, run a mutation like this one
# (remove the leading #s):
#
# mutation UpdateMe {
#   updateMe(input: { name: "Ada Lovelace" }) {
#     id
#     name
#     version
#   }
# }
#
# Subscriptions run here too, over WebSocket, e.g.
# subscription Live { userChanged { type version changes } }
#
# The REST endpoints are described at /docs.

query Me {
  me {
    id
    email
    name
    username
    role
    organization {
      id
      name
    }
    version
  }
}
`;

/**
 * Renders GraphiQL against this server's /graphql (subscriptions over WebSocket on the same path). An Authorization header still holding the
 * placeholder is dropped, so the schema loads (introspection needs no token) and running an
 * operation before pasting one answers UNAUTHENTICATED instead of "malformed header".
 */
export const GRAPHIQL_INIT_JS = `'use strict';
(function () {
  var PLACEHOLDER = ${JSON.stringify(TOKEN_PLACEHOLDER)};
  // Subscriptions go over WebSocket to the same path; GraphiQL sends the headers editor's headers
  // (the token) as the connection's parameters.
  var fetchGraphQL = window.GraphiQL.createFetcher({
    url: '/graphql',
    subscriptionUrl: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql',
  });
  function withoutPlaceholder(headers) {
    var kept = {};
    Object.keys(headers || {}).forEach(function (name) {
      var value = headers[name];
      if (!(name.toLowerCase() === 'authorization' && String(value).indexOf(PLACEHOLDER) !== -1)) {
        kept[name] = value;
      }
    });
    return kept;
  }
  function fetcher(params, options) {
    var opts = Object.assign({}, options, { headers: withoutPlaceholder(options && options.headers) });
    return fetchGraphQL(params, opts);
  }
  var root = window.ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    window.React.createElement(window.GraphiQL, {
      fetcher: fetcher,
      defaultQuery: ${JSON.stringify(DEFAULT_QUERY)},
      defaultHeaders: ${JSON.stringify(DEFAULT_HEADERS)},
      defaultEditorToolsVisibility: 'headers',
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    }),
  );
})();
`;
