// @tessera/sdk: what a service needs to call others (a token client and an authenticated fetch)
// and to receive calls (a verifier and middleware for Fastify, Express and node:http). Depends
// on `jose` and Node built-ins only.

export { createTokenClient } from './client/token-client.ts';
export { CLIENT_ASSERTION_TYPE, signClientAssertion, type ClientAssertionClaims } from './client/assertion.ts';
export { basicAuthorization } from './client/basic-auth.ts';
export { requestTokenResponse, type TokenEndpointRequestOptions, type TokenEndpointResponse } from './client/token-request.ts';
export type { RequestProof } from './client/credentials.ts';
export type {
  Transport as TokenTransport,
  TransportRequest as TokenTransportRequest,
  TransportResponse as TokenTransportResponse,
} from './client/transport.ts';
export { TokenClientError, type TokenClientErrorCode, type TokenClientErrorDetails } from './client/errors.ts';
export type {
  AccessTokenRequest,
  CertificateCredentials,
  CertificateMaterial,
  CertificateSource,
  Credentials,
  DomainRequest,
  GetAccessTokenOptions,
  OnBehalfOf,
  PrivateKeyCredentials,
  RetryOptions,
  ScopeRequest,
  SecretCredentials,
  TokenClient,
  TokenClientFetch,
  TokenClientOptions,
} from './client/options.ts';
export {
  createAuthenticatedFetch,
  type AuthenticatedFetch,
  type AuthenticatedFetchOptions,
  type AuthenticatedRequestInit,
  type FetchFunction,
} from './fetch/authenticated-fetch.ts';
export * from './certificates/index.ts';

export * from './verifier/index.ts';
export * from './middleware/index.ts';
export {
  ACCESS_TOKEN_TYPE_URN,
  ID_TOKEN_TYPE_URN,
  TOKEN_EXCHANGE_GRANT,
  createExchangeClient,
  type ExchangeClient,
  type ExchangeClientOptions,
  type ExchangeRequest,
  type OnBehalfOfRequest,
  type SubjectTokenType,
} from './client/exchange.ts';
