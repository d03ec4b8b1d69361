import type { CredentialRule } from './credential-rule';
import type { EndpointId } from './error-table';
import type { FieldSpec, JsonObject } from './field-map';
import type { GraphqlCaller } from './graphql-call';

export type { JsonObject } from './field-map';

/** A JSON Schema (2020-12, as OpenAPI 3.1 holds it). */
export type JsonSchema = { [keyword: string]: unknown };

/** An OpenAPI security scheme object. */
export type SecurityScheme = { type: 'http' | 'apiKey'; [field: string]: unknown };

/** The words of one operation. */
export interface OperationFacts {
  /** Unique in the document; an endpoint's alias paths derive theirs from it (see `aliasOperationId`). */
  operationId: string;
  summary: string;
  description?: string;
}

/**
 * What an endpoint module declares for the OpenAPI document, next to its paths, credential rule and
 * mappings. Everything else in the document (statuses, headers, parameters, media types, paths and
 * operation ids of aliases) follows from the endpoint's definition and the shim's rules, in this module.
 */
export interface EndpointOpenApi {
  /** The tag its operations are grouped under: its document's number, and what that document is. */
  tag: { name: string; description: string };
  read: OperationFacts;
  write: OperationFacts;
  /** The security schemes it takes (any one of them will do), by their names in the document. */
  security: Readonly<Record<string, SecurityScheme>>;
  /** Each `:name` of its paths, in order. */
  pathParameters?: Readonly<Record<string, { description: string; schema: JsonSchema }>>;
  /** Names in `components`: the write's body, its 200 body, GET's 200 body (default: the write's), errors. */
  schemas: { request: string; response: string; readResponse?: string; error: string };
  /** The component schemas of this endpoint's document, under that document's names. */
  components: Readonly<Record<string, JsonSchema>>;
}

/** One request as a shim module sees it: path parameters and GraphQL as the authenticated caller. */
export interface ShimCall {
  params: Record<string, string>;
  graphql: GraphqlCaller;
  /** Who the credential belongs to, as authentication read it (null without one). */
  caller: { id: string; numericId: number } | null;
  /**
   * An earlier attempt under the request's Idempotency-Key applied its write (its process died before
   * storing the answer): the write answers with what it applied, and what was judged on the user before
   * it (read-only fields) is not judged again on the user it left.
   */
  appliedBefore?: boolean;
}

export interface ShimResult {
  status?: number;
  body: unknown;
}

/**
 * A documented endpoint: its paths, credential rule, field names, its read and write mappings, and what
 * the OpenAPI document says of it (src/rest/openapi.ts generates the rest of the document from these).
 */
export interface EndpointDefinition {
  id: EndpointId;
  /** The full documented path first; any further path is the same without its server prefix. */
  paths: readonly string[];
  credential: CredentialRule;
  /** Body fields, also used to rename fields in GraphQL errors back to the documented names. */
  fields: readonly FieldSpec[];
  read(call: ShimCall): Promise<ShimResult>;
  write: {
    method: 'put' | 'patch' | 'post';
    mediaTypes?: readonly string[];
    handle(call: ShimCall, body: JsonObject): Promise<ShimResult>;
  };
  openapi: EndpointOpenApi;
}

/** The media types an endpoint's write takes (JSON unless it says more). */
export function writeMediaTypes(endpoint: EndpointDefinition): readonly string[] {
  return endpoint.write.mediaTypes ?? ['application/json'];
}
