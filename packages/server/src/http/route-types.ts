// Request types read from the route schemas, so the schema that validates a request is also the
// type its handler sees: `app.withTypeProvider<SchemaTypes>()` types request.params, .query,
// .body and .headers with json-schema-to-ts (types only: nothing of it runs).
//
// Replies stay untyped, as with fastify's default provider: a response schema says what is sent
// (and documents it in /openapi.json), and a handler may send bytes or nothing (a 204).

import type { FastifyRequest, FastifyTypeProvider } from 'fastify';
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';

export interface SchemaTypes extends FastifyTypeProvider {
  validator: this['schema'] extends JSONSchema ? FromSchema<this['schema']> : unknown;
  serializer: unknown;
}

/** The request of a route whose `params` schema is `Schema`: for helpers that several such routes share. */
export type RequestWithParams<Schema extends JSONSchema> = FastifyRequest<{ Params: FromSchema<Schema> }>;

/**
 * A body that may be absent (its schema allows `null`, or no body was sent) as an object whose
 * fields are all optional: `{}` when there is none.
 */
export function optionalBody<Body extends object>(body: Body | null | undefined): Partial<Body> {
  return body ?? {};
}
