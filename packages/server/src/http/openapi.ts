// The OpenAPI 3.1 document served at GET /openapi.json, generated from the fastify route schemas so that the
// schema which validates a request is the one that documents it. The composition function adds
// `collector.onRoute` as an onRoute hook before it registers any route, then calls
// registerOpenApiRoute.
//
// A route is documented when it has a `schema` without `hide: true`. Route schemas may `$ref` a
// shared schema added with `app.addSchema` (`{ $ref: 'domain#' }`); every shared schema so used
// becomes a `components.schemas` entry. A `#/...` pointer inside an inline route schema is left as
// it is and would point into the OpenAPI document instead, so definitions that are referenced
// belong in a shared schema.

import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance, RawServerBase } from 'fastify';

declare module 'fastify' {
  interface FastifySchema {
    /** Leave this route out of /openapi.json. */
    hide?: boolean;
    summary?: string;
    description?: string;
    tags?: readonly string[];
    /** Defaults to one derived from method and path, e.g. `getAdminV1DomainsByD`. */
    operationId?: string;
    /** e.g. `[{ bearerAuth: [] }]`; the schemes are `bearerAuth` and `basicAuth`. */
    security?: readonly OpenAPISecurityRequirement[];
    /** Media types of the request body when `body` is a plain schema (default application/json). */
    consumes?: readonly string[];
  }
}

export type JsonSchema = boolean | { [keyword: string]: unknown };
export type OpenAPISecurityRequirement = Readonly<Record<string, readonly string[]>>;
export type OpenAPIMethod = 'get' | 'put' | 'post' | 'delete' | 'options' | 'head' | 'patch' | 'trace';

export interface OpenAPIInfo {
  title: string;
  version: string;
  description?: string;
}

export interface OpenAPIParameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  description?: string;
  schema: JsonSchema;
}

export interface OpenAPIMediaType {
  schema: JsonSchema;
}

export interface OpenAPIRequestBody {
  required: true;
  content: Record<string, OpenAPIMediaType>;
}

export interface OpenAPIResponse {
  description: string;
  content?: Record<string, OpenAPIMediaType>;
}

export interface OpenAPIOperation {
  operationId: string;
  summary?: string;
  description?: string;
  tags?: readonly string[];
  security?: readonly OpenAPISecurityRequirement[];
  parameters?: OpenAPIParameter[];
  requestBody?: OpenAPIRequestBody;
  responses?: Record<string, OpenAPIResponse>;
}

export type OpenAPIPathItem = Partial<Record<OpenAPIMethod, OpenAPIOperation>>;

export interface OpenAPISecurityScheme {
  type: 'http';
  scheme: 'bearer' | 'basic';
  bearerFormat?: string;
}

export interface OpenAPIDocument {
  openapi: '3.1.0';
  info: OpenAPIInfo;
  paths: Record<string, OpenAPIPathItem>;
  components: {
    schemas?: Record<string, JsonSchema>;
    securitySchemes: Record<string, OpenAPISecurityScheme>;
  };
}

/** The part of fastify's onRoute options the document is built from. */
export interface DocumentedRoute {
  method: string | readonly string[];
  url: string;
  schema?: unknown;
  exposeHeadRoute?: boolean;
}

/** The fastify instance a route was registered on: it knows the shared schemas the route sees. */
export interface SchemaScope {
  getSchemas(): Record<string, unknown>;
}

export interface OpenApiCollector {
  /** An onRoute hook; fastify calls it with the route's instance as `this`. */
  onRoute(this: SchemaScope, route: DocumentedRoute): void;
  /** The document for every route seen so far; built on first use and kept. */
  document(): OpenAPIDocument;
}

interface CollectedRoute {
  method: OpenAPIMethod;
  url: string;
  schema: Record<string, unknown>;
  scope: SchemaScope;
}

export function openApiCollector(info: OpenAPIInfo): OpenApiCollector {
  const routes: CollectedRoute[] = [];
  const explicitOperationIds = new Set<string>();
  // Fastify registers a HEAD twin of each GET from a shallow copy of its options, so the twin
  // carries the very same schema object; that identity is the only thing that marks it.
  const schemasWithHeadTwin = new WeakSet<object>();
  let built: OpenAPIDocument | undefined;

  return {
    onRoute(route) {
      const schema = route.schema;
      if (!isObject(schema) || schema.hide === true) return;
      const methods = (typeof route.method === 'string' ? [route.method] : route.method).map((m) => m.toLowerCase());
      for (const method of methods) {
        if (!isOpenApiMethod(method)) continue;
        if (method === 'head' && methods.length === 1 && schemasWithHeadTwin.has(schema)) continue;
        if (typeof schema.operationId === 'string') {
          if (explicitOperationIds.has(schema.operationId)) {
            throw new Error(`operationId '${schema.operationId}' (${method.toUpperCase()} ${route.url}) is already used; operationIds must be unique`);
          }
          explicitOperationIds.add(schema.operationId);
        }
        routes.push({ method, url: route.url, schema, scope: this });
      }
      if (methods.includes('get') && !methods.includes('head') && route.exposeHeadRoute !== false) {
        schemasWithHeadTwin.add(schema);
      }
      built = undefined;
    },
    document() {
      built ??= buildDocument(info, routes, explicitOperationIds);
      return built;
    },
  };
}

/** Adds `GET /openapi.json`, itself left out of the document. */
export function registerOpenApiRoute<Server extends RawServerBase>(app: FastifyInstance<Server>, collector: OpenApiCollector): void {
  app.get('/openapi.json', { schema: { hide: true } }, async () => collector.document());
}

function buildDocument(info: OpenAPIInfo, routes: readonly CollectedRoute[], explicitOperationIds: ReadonlySet<string>): OpenAPIDocument {
  const shared = sharedSchemas(routes.map((r) => r.scope));
  const usedOperationIds = new Set(explicitOperationIds);
  const uniqueOperationId = (method: OpenAPIMethod, path: string): string => {
    const derived = deriveOperationId(method, path);
    let operationId = derived;
    for (let n = 2; usedOperationIds.has(operationId); n++) operationId = `${derived}${n}`;
    usedOperationIds.add(operationId);
    return operationId;
  };
  const paths: Record<string, OpenAPIPathItem> = {};
  for (const route of routes) {
    const { path, pathParams } = toOpenApiPath(route.url);
    const item = (paths[path] ??= {});
    // Routes that differ only by fastify constraints (version, host) share one OpenAPI operation.
    if (item[route.method]) continue;
    const explicit = route.schema.operationId;
    item[route.method] = toOperation(route.schema, typeof explicit === 'string' ? explicit : uniqueOperationId(route.method, path), pathParams, shared);
  }
  const schemas = shared.components();
  return {
    openapi: '3.1.0',
    info: { ...info },
    paths,
    components: {
      ...(schemas && { schemas }),
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        basicAuth: { type: 'http', scheme: 'basic' },
      },
    },
  };
}

function toOperation(schema: Record<string, unknown>, operationId: string, pathParams: readonly string[], shared: SharedSchemas): OpenAPIOperation {
  const operation: OpenAPIOperation = { operationId };
  if (typeof schema.summary === 'string') operation.summary = schema.summary;
  if (typeof schema.description === 'string') operation.description = schema.description;
  if (Array.isArray(schema.tags)) operation.tags = schema.tags.filter(isString);
  if (Array.isArray(schema.security)) operation.security = schema.security.filter(isObject) as OpenAPISecurityRequirement[];
  const parameters = toParameters(schema, pathParams, shared);
  if (parameters.length > 0) operation.parameters = parameters;
  const requestBody = toRequestBody(schema, shared);
  if (requestBody) operation.requestBody = requestBody;
  const responses = toResponses(schema.response, shared);
  if (responses) operation.responses = responses;
  return operation;
}

// OpenAPI ignores header parameters with these names; Authorization is expressed by `security`.
const HEADERS_OPENAPI_IGNORES = new Set(['accept', 'content-type', 'authorization']);

function toParameters(schema: Record<string, unknown>, pathParams: readonly string[], shared: SharedSchemas): OpenAPIParameter[] {
  const parameters: OpenAPIParameter[] = [];
  const path = objectMembers(schema.params, undefined, shared);
  // Every template in the path needs a parameter, whether or not the params schema names it.
  for (const name of pathParams) parameters.push(parameter(name, 'path', true, path.properties.get(name) ?? { type: 'string' }));
  const query = objectMembers(schema.querystring ?? schema.query, undefined, shared);
  for (const [name, s] of query.properties) parameters.push(parameter(name, 'query', query.required.has(name), s));
  const headers = objectMembers(schema.headers, undefined, shared);
  for (const [name, s] of headers.properties) {
    if (!HEADERS_OPENAPI_IGNORES.has(name.toLowerCase())) parameters.push(parameter(name, 'header', headers.required.has(name), s));
  }
  return parameters;
}

function parameter(name: string, location: OpenAPIParameter['in'], required: boolean, schema: JsonSchema): OpenAPIParameter {
  const description = isObject(schema) && typeof schema.description === 'string' ? schema.description : undefined;
  return { name, in: location, required, ...(description !== undefined && { description }), schema };
}

function toRequestBody(schema: Record<string, unknown>, shared: SharedSchemas): OpenAPIRequestBody | undefined {
  const body = schema.body;
  if (body === undefined) return undefined;
  if (isObject(body) && isObject(body.content)) return { required: true, content: toContent(body.content, shared) };
  const mediaTypes = Array.isArray(schema.consumes) && schema.consumes.length > 0 ? schema.consumes.filter(isString) : ['application/json'];
  const bodySchema = convertSchema(body, undefined, shared);
  return { required: true, content: Object.fromEntries(mediaTypes.map((type) => [type, { schema: bodySchema }])) };
}

function toResponses(response: unknown, shared: SharedSchemas): Record<string, OpenAPIResponse> | undefined {
  if (!isObject(response)) return undefined;
  const responses: Record<string, OpenAPIResponse> = {};
  for (const [status, entry] of Object.entries(response)) {
    const code = /^[1-5]xx$/i.test(status) ? status.toUpperCase() : status;
    const description = isObject(entry) && typeof entry.description === 'string' ? entry.description : defaultDescription(code);
    responses[code] = { description, ...responseContent(entry, shared) };
  }
  return responses;
}

// A response schema of `type: 'null'`, or one with nothing but a description, documents a
// response without a body (204, for one).
function responseContent(entry: unknown, shared: SharedSchemas): Pick<OpenAPIResponse, 'content'> {
  if (isObject(entry) && isObject(entry.content)) return { content: toContent(entry.content, shared) };
  if (isObject(entry) && (entry.type === 'null' || Object.keys(entry).every((k) => k === 'description'))) return {};
  return { content: { 'application/json': { schema: convertSchema(entry, undefined, shared) } } };
}

/** Fastify's per-media-type form: `{ content: { 'application/json': { schema } } }`. */
function toContent(content: Record<string, unknown>, shared: SharedSchemas): Record<string, OpenAPIMediaType> {
  return Object.fromEntries(
    Object.entries(content).map(([type, media]) => [type, { schema: convertSchema(isObject(media) ? media.schema : undefined, undefined, shared) }]),
  );
}

// node:http as require() gives it: an ES module import of it builds its namespace, whose WebSocket
// getter loads Node's fetch implementation (undici, ~2 MB per process).
const { STATUS_CODES } = process.getBuiltinModule('node:http');

const STATUS_RANGES: Readonly<Record<string, string>> = { 1: 'Informational', 2: 'Success', 3: 'Redirection', 4: 'Client error', 5: 'Server error' };

function defaultDescription(code: string): string {
  if (code === 'default') return 'Default response';
  const range = /^([1-5])XX$/.exec(code)?.[1];
  return (range === undefined ? STATUS_CODES[code] : STATUS_RANGES[range]) ?? `Status ${code}`;
}

/** Fastify path syntax (find-my-way's) to an OpenAPI template: `/keys/:kid(^\\w+$)` → `/keys/{kid}`. */
export function toOpenApiPath(url: string): { path: string; pathParams: string[] } {
  let path = '';
  const pathParams: string[] = [];
  for (let i = 0; i < url.length;) {
    if (url.startsWith('::', i)) {
      path += ':';
      i += 2;
    } else if (url[i] === ':') {
      let end = i + 1;
      while (end < url.length && !'(-./'.includes(url[end] ?? '')) end++;
      const name = url.slice(i + 1, end);
      pathParams.push(name);
      path += `{${name}}`;
      i = url[end] === '(' ? closingParenthesis(url, end) + 1 : end;
    } else if (url[i] === '*') {
      pathParams.push('*');
      path += '{*}';
      i++;
    } else {
      path += url[i];
      i++;
    }
  }
  return { path: path.startsWith('/') ? path : `/${path}`, pathParams };
}

function closingParenthesis(url: string, open: number): number {
  let depth = 0;
  for (let i = open; i < url.length; i++) {
    if (url[i] === '\\') i++;
    else if (url[i] === '(') depth++;
    else if (url[i] === ')' && --depth === 0) return i;
  }
  return url.length;
}

function deriveOperationId(method: OpenAPIMethod, path: string): string {
  const words = path.split(/(\{[^}]*\})/).flatMap((part) => {
    if (part.startsWith('{')) return `By${pascal(part.slice(1, -1)) || 'Wildcard'}`;
    return part.split(/[^A-Za-z0-9]+/).map(pascal);
  });
  return method + (words.join('') || 'Root');
}

function pascal(text: string): string {
  return text
    .split(/[^A-Za-z0-9]+/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

interface ObjectMembers {
  properties: Map<string, JsonSchema>;
  required: Set<string>;
}

/** The properties of a params/querystring/headers schema, following a `$ref` to a shared one. */
function objectMembers(schema: unknown, baseId: string | undefined, shared: SharedSchemas): ObjectMembers {
  const members: ObjectMembers = { properties: new Map(), required: new Set() };
  if (!isObject(schema)) return members;
  if (typeof schema.$ref === 'string') {
    const target = shared.resolve(schema.$ref, baseId);
    if (target) return objectMembers(target.schema, target.baseId, shared);
  }
  if (isObject(schema.properties)) {
    for (const [name, s] of Object.entries(schema.properties)) members.properties.set(name, convertSchema(s, baseId, shared));
  }
  if (Array.isArray(schema.required)) for (const name of schema.required.filter(isString)) members.required.add(name);
  return members;
}

// Keywords whose values are schemas, by shape. Everything else (enum, const, default, examples,
// required, …) is data and copied untouched, even when it happens to contain a `$ref` key.
const SCHEMA_MAP_KEYWORDS = new Set(['properties', 'patternProperties', 'definitions', '$defs', 'dependentSchemas']);
const SCHEMA_KEYWORDS = new Set([
  'additionalProperties',
  'not',
  'if',
  'then',
  'else',
  'contains',
  'propertyNames',
  'unevaluatedItems',
  'unevaluatedProperties',
  'contentSchema',
]);
const SCHEMA_LIST_KEYWORDS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);

/**
 * A fastify (draft-07, ajv) schema as an OpenAPI 3.1 (JSON Schema 2020-12) schema: shared-schema
 * refs point into components, and the keywords 2020-12 reads differently are rewritten (tuple
 * `items`, `dependencies`, ajv's OpenAPI 3.0 `nullable`).
 */
function convertSchema(schema: unknown, baseId: string | undefined, shared: SharedSchemas): JsonSchema {
  if (typeof schema === 'boolean') return schema;
  if (!isObject(schema)) return {};
  const convert = (s: unknown): JsonSchema => convertSchema(s, baseId, shared);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    // $id would rebase the refs beneath it, which now point at components; $schema names draft-07.
    if (key === '$id' || key === '$schema' || key === 'nullable') continue;
    if (key === '$ref' && typeof value === 'string') out.$ref = shared.rewriteRef(value, baseId);
    else if (SCHEMA_MAP_KEYWORDS.has(key) && isObject(value)) out[key] = mapValues(value, convert);
    else if (SCHEMA_KEYWORDS.has(key)) out[key] = convert(value);
    else if (SCHEMA_LIST_KEYWORDS.has(key) && Array.isArray(value)) out[key] = value.map(convert);
    else if (key === 'items') out[Array.isArray(value) ? 'prefixItems' : 'items'] = Array.isArray(value) ? value.map(convert) : convert(value);
    else if (key === 'additionalItems') {
      if (Array.isArray(schema.items)) out.items = convert(value);
    } else if (key === 'dependencies' && isObject(value)) {
      for (const [property, dependency] of Object.entries(value)) {
        const keyword = Array.isArray(dependency) ? 'dependentRequired' : 'dependentSchemas';
        const target = (out[keyword] ??= {}) as Record<string, unknown>;
        target[property] = Array.isArray(dependency) ? dependency : convert(dependency);
      }
    } else out[key] = value;
  }
  if (schema.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    else if (Array.isArray(out.type) && !out.type.includes('null')) out.type = [...out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  }
  return out;
}

interface SharedSchemas {
  /** A `$ref` to a shared schema as one into `#/components/schemas`; any other ref unchanged. */
  rewriteRef(ref: string, baseId: string | undefined): string;
  resolve(ref: string, baseId: string | undefined): { schema: unknown; baseId: string } | undefined;
  /** The components for every shared schema a rewritten ref pointed at. */
  components(): Record<string, JsonSchema> | undefined;
}

function sharedSchemas(scopes: readonly SchemaScope[]): SharedSchemas {
  const byId = new Map<string, unknown>();
  for (const scope of new Set(scopes)) {
    for (const [rawId, schema] of Object.entries(scope.getSchemas())) {
      const id = rawId.replace(/#$/, '');
      const known = byId.get(id);
      if (known !== undefined && !isDeepStrictEqual(known, schema)) {
        throw new Error(`two shared schemas have $id '${id}' with different content; the OpenAPI document can hold only one`);
      }
      byId.set(id, schema);
    }
  }
  const names = new Map<string, string>();
  const pending: string[] = [];

  function target(ref: string, baseId: string | undefined): { id: string; pointer: string } | undefined {
    const candidates = ref.startsWith('#') ? (baseId === undefined ? [] : [baseId + ref]) : [ref];
    if (baseId !== undefined && !ref.startsWith('#') && URL.canParse(ref, baseId)) candidates.push(new URL(ref, baseId).href);
    for (const candidate of candidates) {
      const hash = candidate.indexOf('#');
      const id = hash === -1 ? candidate : candidate.slice(0, hash);
      const pointer = hash === -1 ? '' : candidate.slice(hash + 1);
      // A plain-name fragment is a draft-07 anchor, which has no place in components.
      if (byId.has(id) && (pointer === '' || pointer.startsWith('/'))) return { id, pointer };
    }
    return undefined;
  }

  function componentName(id: string): string {
    let name = names.get(id);
    if (name === undefined) {
      const base = id.replace(/[^A-Za-z0-9._-]+/g, '_') || 'schema';
      const taken = new Set(names.values());
      name = base;
      for (let n = 2; taken.has(name); n++) name = `${base}_${n}`;
      names.set(id, name);
      pending.push(id);
    }
    return name;
  }

  const shared: SharedSchemas = {
    rewriteRef(ref, baseId) {
      const found = target(ref, baseId);
      return found ? `#/components/schemas/${componentName(found.id)}${found.pointer}` : ref;
    },
    resolve(ref, baseId) {
      const found = target(ref, baseId);
      return found && { schema: followPointer(byId.get(found.id), found.pointer), baseId: found.id };
    },
    components() {
      const schemas: Record<string, JsonSchema> = {};
      for (let id = pending.shift(); id !== undefined; id = pending.shift()) {
        schemas[componentName(id)] = convertSchema(byId.get(id), id, shared);
      }
      return Object.keys(schemas).length > 0 ? schemas : undefined;
    },
  };
  return shared;
}

function followPointer(schema: unknown, pointer: string): unknown {
  let node = schema;
  for (const token of pointer.split('/').slice(1)) {
    if (typeof node !== 'object' || node === null) return undefined;
    const key = decodeURIComponent(token).replaceAll('~1', '/').replaceAll('~0', '~');
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

const OPENAPI_METHODS: ReadonlySet<string> = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

function isOpenApiMethod(method: string): method is OpenAPIMethod {
  return OPENAPI_METHODS.has(method);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

function mapValues(record: Record<string, unknown>, fn: (value: unknown) => unknown): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, fn(value)]));
}
