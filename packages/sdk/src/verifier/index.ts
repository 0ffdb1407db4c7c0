// The verifier's public surface (docs/tokens.md, Verifying a token).

export { createVerifier, type AuthContext, type Verifier, type VerifyOptions } from './create-verifier.ts';
export {
  InsufficientScopeError,
  InvalidAudienceError,
  InvalidRequestError,
  InvalidTokenError,
  MissingTokenError,
  VerifierError,
  VerifierUnavailableError,
  type InvalidTokenReason,
  type VerifierErrorCode,
} from './errors.ts';
export { certificateThumbprint } from './binding.ts';
export { hasRole, scopeItemRole, type CompiledRequirement, type Requirement, type Roles } from './roles.ts';
export type { ApiKeyOptions, CertificateInput, FetchLike, VerifierOptions } from './options.ts';
export { delegationChain, type DelegationPolicy } from './delegation.ts';
export { callerToken } from './presented.ts';
