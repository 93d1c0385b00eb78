// orderflow's GraphiQL: the vendored GraphiQL on the endpoint that served
// this page (its own URL, so a gateway's path prefix is kept), queries over
// HTTP POST and subscriptions over a WebSocket on the same path. Every
// operation needs a bearer token: the Headers pane's entries go with each
// POST and, for subscriptions, in the WebSocket's connection_init payload,
// where the server reads the same `Authorization` entry.
(function () {
  'use strict';
  var endpoint = new URL(window.location.pathname, window.location.href);
  var socket = new URL(endpoint.href);
  socket.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';

  var defaultQuery = [
    '# orderflow GraphQL. Every operation needs a bearer',
    '# token: put one in the Headers pane below, e.g.',
    '#   orderflow token --role staff',
    '# then run with Ctrl-Enter. Subscriptions use the',
    '# same header. The schema (Docs, autocompletion)',
    '# loads with a token: Shift-Ctrl-R refetches it.',
    '{',
    '  orders(first: 5) {',
    '    totalCount',
    '    nodes { id status total { formatted } }',
    '  }',
    '}',
    ''
  ].join('\n');

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({
        url: endpoint.href,
        subscriptionUrl: socket.href
      }),
      defaultQuery: defaultQuery,
      defaultHeaders: '{\n  "Authorization": "Bearer <token>"\n}\n',
      // Opened on the Headers pane: nothing works until a token is there.
      defaultEditorToolsVisibility: 'headers'
    })
  );
})();
