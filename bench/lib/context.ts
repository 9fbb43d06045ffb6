import type { LoadGenerator } from './load.ts';
import type { RegistryProcess } from './registry.ts';

/** A principal of the run and its access token. */
export interface Caller {
  id: string;
  clientId: string;
  token: string;
}

/** How long and how hard each measurement runs. */
export interface Settings {
  /** Interleaved rounds per comparison (each round runs both sides once, alternating which goes first). */
  rounds: number;
  /** Seconds per side per round for throughput runs. */
  roundS: number;
  /** Seconds per side per round for latency runs (one connection). */
  latencyRoundS: number;
  /** Closed-loop connections of throughput runs. */
  connections: number;
  /** Warm-up seconds before each comparison, per side. */
  warmupS: number;
  /** Searches per catalog size per round (a whole number of passes over the search terms). */
  searchesPerRound: number;
}

/** Everything a measurement module works with. */
export interface BenchContext {
  registry: RegistryProcess;
  /** The main load generator. */
  load: LoadGenerator;
  /** A second load generator, for traffic that runs alongside the main one (the attack). */
  second: LoadGenerator;
  admin: Caller;
  /** A non-admin agent (roles: agent) under the default policies: the legitimate caller. */
  agent: Caller;
  /** A non-admin viewer that sends hostile queries. */
  attacker: Caller;
  settings: Settings;
  /** Progress on stderr. */
  log(message: string): void;
}

/** A GraphQL POST of `query` (and variables) as a load request with `token`. */
export function graphqlRequest(token: string, query: string, variables?: Record<string, unknown>) {
  return {
    method: 'POST' as const,
    path: '/graphql',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(variables ? { query, variables } : { query }),
  };
}
