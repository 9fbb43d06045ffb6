import type { EgressPolicy } from '../security/egress.js';

/** What a discovery may reach and how much it may take; the caller builds it from configuration. */
export interface DiscoveryOptions {
  /** Every URL (http, sse, streamable_http, websocket, graphql, mcp over HTTP) goes through it. */
  egress: EgressPolicy;
  /** Executables (basename or absolute path) the `cli` and stdio `mcp` types may run; anything else is refused. */
  cliAllow: string[];
  /** The only directory `file` may read; without it `file` is refused. */
  fileRoot?: string;
  /** Per discovery, for the whole operation. */
  timeoutMs: number;
  /** Per response, message, file or stdout. */
  maxBytes: number;
  /** Operations an OpenAPI description may have converted; more are left out with a warning (default 5000). */
  openApiMaxOperations?: number;
  /** Resolved auth headers to send (the caller decrypts credentials); never logged nor echoed in errors. */
  headers?: Record<string, string>;
}

/** A discovered manual: the caller runs `parseManualWithWarnings` on it unless it is `validated`. */
export interface DiscoveryResult {
  manual: unknown;
  warnings: string[];
  /** Already through `parseManualWithWarnings` (in the conversion worker), its warnings included. */
  validated?: boolean;
}

/** A manual call template as discovery receives it: validated by `parseManual`'s call template schema. */
export type ManualCallTemplate = Record<string, unknown> & { call_template_type: string };

/** What every discoverer receives besides its template. */
export interface DiscoveryContext {
  options: DiscoveryOptions;
  /** Aborts when the discovery's deadline passes (or it is given up); discoverers release what they hold on it. */
  signal: AbortSignal;
  /** Milliseconds left before the deadline, at least 1. */
  remainingMs(): number;
  /** Runs the registry's own work on what was fetched (parsing, conversion) with the deadline paused. */
  offTheClock<T>(work: () => Promise<T>): Promise<T>;
}

/** Discovers the manual behind one call template type. */
export type Discoverer = (template: ManualCallTemplate, context: DiscoveryContext) => Promise<DiscoveryResult>;
