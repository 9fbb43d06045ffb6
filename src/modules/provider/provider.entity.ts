import { type Opt, type Rel } from '@mikro-orm/core';
import { Entity, Enum, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { BaseEntity } from '../../db/base.entity.js';
import { Principal } from '../principal/principal.entity.js';

/** The call template types of UTCP 1.1 that a provider (and its tools) may use. */
export enum CallTemplateType {
  HTTP = 'http',
  SSE = 'sse',
  STREAMABLE_HTTP = 'streamable_http',
  CLI = 'cli',
  WEBSOCKET = 'websocket',
  GRAPHQL = 'graphql',
  MCP = 'mcp',
  TEXT = 'text',
  FILE = 'file',
}

/** Whether the registry signs a provider's calls (RFC 9421 HTTP Message Signatures). */
export enum RequestSigning {
  OFF = 'off',
  SIGN = 'sign',
}

export enum ProviderStatus {
  ACTIVE = 'active',
  DISABLED = 'disabled',
  ERROR = 'error',
}

/** A registered UTCP manual call template; its tools are discovered from it. */
@Entity({ tableName: 'provider' })
export class Provider extends BaseEntity {
  @Property({ type: 'string', length: 128, unique: true })
  name!: string;

  @Enum({ items: () => CallTemplateType })
  callTemplateType!: CallTemplateType;

  /** The template as registered, with secrets replaced by credential references. */
  @Property({ type: 'json' })
  callTemplate!: Record<string, unknown>;

  @ManyToOne(() => Principal, { nullable: true, deleteRule: 'set null' })
  owner?: Rel<Principal> | null;

  @Enum({ items: () => ProviderStatus, default: ProviderStatus.ACTIVE })
  status: Opt<ProviderStatus> = ProviderStatus.ACTIVE;

  @Property({ type: 'datetime', nullable: true })
  lastDiscoveredAt?: Date | null;

  @Property({ type: 'text', nullable: true })
  lastError?: string | null;

  /**
   * When an admin released the name of this removed provider (releaseProviderName). Until then a
   * removed provider's name, and its tools' names, stay reserved to its owner; after it, the next
   * registration of the name replaces this provider with a new one whose tools start quarantined.
   */
  @Property({ type: 'datetime', nullable: true })
  releasedAt?: Date | null;

  /** SPKI SHA-256 pins (base64): every TLS connection to this provider must present a chain holding one. Empty: no pinning. */
  @Property({ type: 'text[]', defaultRaw: "'{}'" })
  tlsPins: Opt<string[]> = [];

  @Enum({ items: () => RequestSigning, default: RequestSigning.OFF })
  requestSigning: Opt<RequestSigning> = RequestSigning.OFF;

  /** When a connection last failed the pin check, and to which host. */
  @Property({ type: 'datetime', nullable: true })
  tlsPinFailureAt?: Date | null;

  @Property({ type: 'string', length: 255, nullable: true })
  tlsPinFailureHost?: string | null;
}
