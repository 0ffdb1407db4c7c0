import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { openApiCollector, registerOpenApiRoute, toOpenApiPath } from '../../src/http/openapi.ts';
import type { OpenAPIDocument, OpenAPIOperation } from '../../src/http/openapi.ts';

const error = { type: 'object', properties: { error: { type: 'string' }, message: { type: 'string' } }, required: ['error', 'message'] };
const ok = async () => ({});

/** A small admin-like API covering every schema part the generator reads. */
function buildApp(): FastifyInstance {
  const app = Fastify();
  const collector = openApiCollector({ title: 'Tessera', version: '0.1.0', description: 'Service-to-service auth' });
  app.addHook('onRoute', collector.onRoute);
  app.addSchema({
    $id: 'domain',
    type: 'object',
    properties: { name: { type: 'string' }, owner: { $ref: 'principal#' } },
    required: ['name'],
  });
  app.addSchema({ $id: 'principal', type: 'string', description: 'domain.service' });
  app.addSchema({ $id: 'unused', type: 'object' });

  app.post(
    '/admin/v1/domains',
    {
      schema: {
        summary: 'Create a domain',
        tags: ['domains'],
        security: [{ bearerAuth: [] }],
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string', maxLength: 64 }, description: { type: 'string', nullable: true } },
        },
        response: { 201: { $ref: 'domain#' }, 400: { ...error, description: 'The body is not a domain' }, '4xx': error },
      },
    },
    ok,
  );
  app.get(
    '/admin/v1/domains/:d',
    {
      schema: {
        operationId: 'getDomain',
        params: { type: 'object', properties: { d: { type: 'string', pattern: '^[a-z]+$', description: 'domain name' } } },
        response: { 200: { $ref: 'domain#' }, default: error },
      },
    },
    ok,
  );
  app.get(
    '/admin/v1/audit',
    {
      schema: {
        querystring: {
          type: 'object',
          required: ['limit'],
          properties: { principal: { $ref: 'principal#' }, since: { type: 'string', format: 'date-time' }, limit: { type: 'integer' } },
        },
        headers: { type: 'object', properties: { 'x-request-id': { type: 'string' }, authorization: { type: 'string' } } },
        response: { 200: { type: 'array', items: [{ type: 'string' }], additionalItems: { type: 'integer' } } },
      },
    },
    ok,
  );
  app.delete(
    '/admin/v1/domains/:d/services/:s',
    {
      schema: { security: [{ bearerAuth: [] }], response: { 204: { type: 'null', description: 'Deleted' } } },
    },
    ok,
  );
  app.put(
    '/admin/v1/domains/:d/services/:s/keys/:kid(^[A-Za-z0-9_-]+$)',
    {
      schema: {
        body: { content: { 'application/json': { schema: { type: 'object', properties: { pem: { type: 'string' } } } } } },
      },
    },
    ok,
  );
  app.post(
    '/oauth2/token',
    {
      schema: {
        consumes: ['application/x-www-form-urlencoded'],
        security: [{ basicAuth: [] }],
        body: { type: 'object', properties: { grant_type: { type: 'string' } } },
      },
    },
    ok,
  );
  app.route({ method: ['GET', 'HEAD'], url: '/status', schema: { response: { 200: { type: 'object' } } }, handler: ok });
  app.get('/internal/debug', { schema: { hide: true } }, ok);
  app.get('/healthz', ok);
  app.register(
    async (child) => {
      child.get('/jwks.json', { schema: { response: { 200: { type: 'object' } } } }, ok);
    },
    { prefix: '/auth/.well-known' },
  );
  registerOpenApiRoute(app, collector);
  return app;
}

async function fetchDocument(app: FastifyInstance): Promise<OpenAPIDocument> {
  const response = await app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(response.statusCode, 200);
  assert.match(response.headers['content-type'] ?? '', /^application\/json/);
  return response.json<OpenAPIDocument>();
}

function operation(doc: OpenAPIDocument, path: string, method: 'get' | 'post' | 'put' | 'delete' | 'head'): OpenAPIOperation {
  const found = doc.paths[path]?.[method];
  assert.ok(found, `${method.toUpperCase()} ${path} is documented`);
  return found;
}

void describe('GET /openapi.json', () => {
  void it('serves an OpenAPI 3.1 document with the info given and both security schemes', async (t) => {
    const app = buildApp();
    t.after(() => app.close());
    const doc = await fetchDocument(app);
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.info, { title: 'Tessera', version: '0.1.0', description: 'Service-to-service auth' });
    assert.deepEqual(doc.components.securitySchemes, {
      bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      basicAuth: { type: 'http', scheme: 'basic' },
    });
  });

  void it('documents only routes with a visible schema, once per method, without the HEAD twins fastify adds', async (t) => {
    const app = buildApp();
    t.after(() => app.close());
    const doc = await fetchDocument(app);
    const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));
    assert.deepEqual(documented.sort(), [
      'DELETE /admin/v1/domains/{d}/services/{s}',
      'GET /admin/v1/audit',
      'GET /admin/v1/domains/{d}',
      'GET /auth/.well-known/jwks.json',
      'GET /status',
      'HEAD /status',
      'POST /admin/v1/domains',
      'POST /oauth2/token',
      'PUT /admin/v1/domains/{d}/services/{s}/keys/{kid}',
    ]);
    // The twins exist; they are simply not part of the API description.
    assert.equal((await app.inject({ method: 'HEAD', url: '/auth/.well-known/jwks.json' })).statusCode, 200);
  });

  void it('declares every path template as a required path parameter', async (t) => {
    const app = buildApp();
    t.after(() => app.close());
    const doc = await fetchDocument(app);
    for (const [path, item] of Object.entries(doc.paths)) {
      const templates = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(item)) {
        const parameters = op.parameters ?? [];
        for (const p of parameters) {
          assert.ok(p.name && p.schema !== undefined && ['path', 'query', 'header'].includes(p.in), `${method} ${path}: ${JSON.stringify(p)}`);
        }
        const pathParams = parameters.filter((p) => p.in === 'path');
        assert.deepEqual(
          pathParams.map((p) => p.name),
          templates,
          `${method} ${path}`,
        );
        assert.ok(
          pathParams.every((p) => p.required),
          `${method} ${path}`,
        );
      }
    }
    const [d, s, kid] = operation(doc, '/admin/v1/domains/{d}/services/{s}/keys/{kid}', 'put').parameters ?? [];
    assert.deepEqual([d?.schema, s?.schema, kid?.schema], [{ type: 'string' }, { type: 'string' }, { type: 'string' }]);
    assert.deepEqual(operation(doc, '/admin/v1/domains/{d}', 'get').parameters, [
      { name: 'd', in: 'path', required: true, description: 'domain name', schema: { type: 'string', pattern: '^[a-z]+$', description: 'domain name' } },
    ]);
  });

  void it('turns querystring and header properties into parameters, leaving Authorization to security', async (t) => {
    const app = buildApp();
    t.after(() => app.close());
    const audit = operation(await fetchDocument(app), '/admin/v1/audit', 'get');
    assert.deepEqual(audit.parameters, [
      { name: 'principal', in: 'query', required: false, schema: { $ref: '#/components/schemas/principal' } },
      { name: 'since', in: 'query', required: false, schema: { type: 'string', format: 'date-time' } },
      { name: 'limit', in: 'query', required: true, schema: { type: 'integer' } },
      { name: 'x-request-id', in: 'header', required: false, schema: { type: 'string' } },
    ]);
  });

  void it('documents the request body under its media types', async (t) => {
    const app = buildApp();
    t.after(() => app.close());
    const doc = await fetchDocument(app);
    const create = operation(doc, '/admin/v1/domains', 'post');
    assert.deepEqual(create.requestBody, {
      required: true,
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['name'],
            additionalProperties: false,
            properties: { name: { type: 'string', maxLength: 64 }, description: { type: ['string', 'null'] } },
          },
        },
      },
    });
    assert.deepEqual(Object.keys(operation(doc, '/oauth2/token', 'post').requestBody?.content ?? {}), ['application/x-www-form-urlencoded']);
    assert.deepEqual(operation(doc, '/admin/v1/domains/{d}/services/{s}/keys/{kid}', 'put').requestBody?.content, {
      'application/json': { schema: { type: 'object', properties: { pem: { type: 'string' } } } },
    });
  });

  void it('documents responses by status, range and default, with a description for each', async (t) => {
    const app = buildApp();
    t.after(() => app.close());
    const doc = await fetchDocument(app);
    const errorJson = { 'application/json': { schema: error } };
    assert.deepEqual(operation(doc, '/admin/v1/domains', 'post').responses, {
      201: { description: 'Created', content: { 'application/json': { schema: { $ref: '#/components/schemas/domain' } } } },
      400: { description: 'The body is not a domain', content: { 'application/json': { schema: { ...error, description: 'The body is not a domain' } } } },
      '4XX': { description: 'Client error', content: errorJson },
    });
    assert.deepEqual(operation(doc, '/admin/v1/domains/{d}', 'get').responses?.default, { description: 'Default response', content: errorJson });
    assert.deepEqual(operation(doc, '/admin/v1/domains/{d}/services/{s}', 'delete').responses, { 204: { description: 'Deleted' } });
    assert.deepEqual(operation(doc, '/admin/v1/audit', 'get').responses?.[200]?.content?.['application/json']?.schema, {
      type: 'array',
      prefixItems: [{ type: 'string' }],
      items: { type: 'integer' },
    });
  });

  void it('carries summary, tags and security, and derives unique operationIds where none is given', async (t) => {
    const app = buildApp();
    t.after(() => app.close());
    const doc = await fetchDocument(app);
    const create = operation(doc, '/admin/v1/domains', 'post');
    assert.equal(create.summary, 'Create a domain');
    assert.deepEqual(create.tags, ['domains']);
    assert.deepEqual(create.security, [{ bearerAuth: [] }]);
    assert.deepEqual(operation(doc, '/oauth2/token', 'post').security, [{ basicAuth: [] }]);
    assert.equal(create.operationId, 'postAdminV1Domains');
    assert.equal(operation(doc, '/admin/v1/domains/{d}', 'get').operationId, 'getDomain');
    assert.equal(operation(doc, '/admin/v1/domains/{d}/services/{s}/keys/{kid}', 'put').operationId, 'putAdminV1DomainsByDServicesBySKeysByKid');
    assert.equal(operation(doc, '/auth/.well-known/jwks.json', 'get').operationId, 'getAuthWellKnownJwksJson');
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    assert.equal(new Set(ids).size, ids.length);
  });

  void it('moves the shared schemas routes refer to into components.schemas', async (t) => {
    const app = buildApp();
    t.after(() => app.close());
    const doc = await fetchDocument(app);
    assert.deepEqual(doc.components.schemas, {
      domain: { type: 'object', properties: { name: { type: 'string' }, owner: { $ref: '#/components/schemas/principal' } }, required: ['name'] },
      principal: { type: 'string', description: 'domain.service' },
    });
  });

  void it('reads params from a shared schema and rewrites refs into part of one', async (t) => {
    const app = Fastify();
    t.after(() => app.close());
    const collector = openApiCollector({ title: 't', version: '1' });
    app.addHook('onRoute', collector.onRoute);
    app.addSchema({
      $id: 'http://tessera.test/service.json',
      definitions: { name: { type: 'string', minLength: 1 } },
      type: 'object',
      properties: { d: { $ref: '#/definitions/name' }, s: { $ref: '#/definitions/name' } },
    });
    app.get(
      '/domains/:d/services/:s',
      {
        schema: {
          params: { $ref: 'http://tessera.test/service.json#' },
          response: { 200: { $ref: 'http://tessera.test/service.json#/definitions/name' } },
        },
      },
      ok,
    );
    registerOpenApiRoute(app, collector);
    const doc = await fetchDocument(app);
    const get = operation(doc, '/domains/{d}/services/{s}', 'get');
    const nameRef = { $ref: '#/components/schemas/http_tessera.test_service.json/definitions/name' };
    assert.deepEqual(
      get.parameters?.map((p) => p.schema),
      [nameRef, nameRef],
    );
    assert.deepEqual(get.responses?.[200]?.content?.['application/json']?.schema, nameRef);
    assert.deepEqual(Object.keys(doc.components.schemas ?? {}), ['http_tessera.test_service.json']);
  });

  void it('builds the document once and answers the same one every time', async (t) => {
    const app = Fastify();
    t.after(() => app.close());
    const collector = openApiCollector({ title: 't', version: '1' });
    app.addHook('onRoute', collector.onRoute);
    app.get('/a', { schema: { response: { 200: { type: 'string' } } } }, ok);
    registerOpenApiRoute(app, collector);
    await app.ready();
    assert.equal(collector.document(), collector.document());
    assert.deepEqual(await fetchDocument(app), await fetchDocument(app));
  });

  void it('rejects a route whose explicit operationId another route already uses', () => {
    const app = Fastify();
    const collector = openApiCollector({ title: 't', version: '1' });
    app.addHook('onRoute', collector.onRoute);
    app.get('/a', { schema: { operationId: 'read' } }, ok);
    assert.throws(() => app.get('/b', { schema: { operationId: 'read' } }, ok), /operationId 'read'/);
  });
});

void describe('toOpenApiPath', () => {
  void it('turns fastify path syntax into OpenAPI templates', () => {
    assert.deepEqual(toOpenApiPath('/keys/:kid'), { path: '/keys/{kid}', pathParams: ['kid'] });
    assert.deepEqual(toOpenApiPath('/keys/:kid(^\\d+$)/x'), { path: '/keys/{kid}/x', pathParams: ['kid'] });
    assert.deepEqual(toOpenApiPath('/range/:from-:to'), { path: '/range/{from}-{to}', pathParams: ['from', 'to'] });
    assert.deepEqual(toOpenApiPath('/file/:name.:ext'), { path: '/file/{name}.{ext}', pathParams: ['name', 'ext'] });
    assert.deepEqual(toOpenApiPath('/time/10::30'), { path: '/time/10:30', pathParams: [] });
    assert.deepEqual(toOpenApiPath('/static/*'), { path: '/static/{*}', pathParams: ['*'] });
  });
});
