/** The outbound-request guard: the egress policy (SSRF checks) and the bounded fetch built on it. */
export {
  assertEgressAllowed,
  assertResolvedAllowed,
  assertTemplateTransportAllowed,
  assertTransportAllowed,
  deniedAddressReason,
  EgressDeniedError,
  type EgressLookup,
  type EgressPolicy,
  parseEgressAllowList,
  PlaintextEgressRefusedError,
} from './egress-policy.js';
export {
  boundedFetch,
  type BoundedFetchInit,
  type BoundedResponse,
  closeEgressAgents,
  connectionFailure,
  egressAgent,
  egressDenialOf,
  MAX_REDIRECTS,
} from './bounded-fetch.js';
