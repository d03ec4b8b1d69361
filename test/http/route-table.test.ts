import { RouteTable } from '../../src/http/router';
import { useApp } from '../support/harness';

describe('one route table', () => {
  const app = useApp();

  it('holds each path once: the five endpoints, the email change links, GraphQL, the explorer, health, metrics and the OpenAPI document', () => {
    const templates = app.server.routes.templates();
    expect(new Set(templates).size).toBe(templates.length);
    expect([...templates].sort()).toEqual(
      [
        // 000 (and its path without the server prefix), 001, 002, 003 (both paths), 004
        '/v2/user',
        '/user',
        '/v1/users/me',
        '/v1/users/:user_id',
        '/v1/api/users/:userId',
        '/api/users/:userId',
        '/api/v1/users/:id',
        '/',
        '/graphql',
        '/graphiql',
        '/docs',
        '/explorer-assets/:version/:name',
        '/openapi.json',
        '/healthz',
        '/readyz',
        '/metrics',
        '/v1/email-change/confirm',
        '/v1/email-change/cancel',
      ].sort(),
    );
  });

  it('refuses a path added twice', () => {
    const table = new RouteTable();
    table.add('/v1/users/:user_id', { methods: { GET: () => undefined } });
    expect(() => table.add('/v1/users/:user_id', { methods: { PATCH: () => undefined } })).toThrow(
      /already in the route table/,
    );
  });

  it('matches a fixed path before a parameter in the same place, ignores a trailing slash, and decodes parameters', () => {
    const table = new RouteTable();
    table.add('/v1/users/:user_id', { methods: { GET: () => undefined } });
    table.add('/v1/users/me', { methods: { GET: () => undefined } });
    expect(table.match('/v1/users/me')?.entry.template).toBe('/v1/users/me');
    expect(table.match('/v1/users/me/')?.entry.template).toBe('/v1/users/me');
    expect(table.match('/v1/users/usr_1%2D2')).toMatchObject({
      params: { user_id: 'usr_1-2' },
      malformed: false,
    });
    expect(table.match('/v1/users/%E0%A4%A')).toMatchObject({ malformed: true });
    expect(table.match('/V1/USERS/ME')).toBeUndefined();
    expect(table.match('/v1/users/a/b')).toBeUndefined();
  });
});
