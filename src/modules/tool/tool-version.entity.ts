import { type Opt, type Rel } from '@mikro-orm/core';
import { Entity, Enum, ManyToOne, Property, Unique } from '@mikro-orm/decorators/legacy';
import { BaseEntity } from '../../db/base.entity.js';
import { Principal } from '../principal/principal.entity.js';
import { Tool } from './tool.entity.js';

export enum ToolVersionStatus {
  APPROVED = 'approved',
  PENDING = 'pending',
  REJECTED = 'rejected',
}

/** One definition a tool has had; a changed definition waits here as `pending` until approved. */
@Entity({ tableName: 'tool_version' })
@Unique({ properties: ['tool', 'version'] })
export class ToolVersion extends BaseEntity {
  @ManyToOne(() => Tool, { deleteRule: 'cascade' })
  tool!: Rel<Tool>;

  @Property({ type: 'integer' })
  version!: number;

  @Property({ type: 'string', length: 64 })
  definitionHash!: string;

  /** description, inputs, outputs, tags, average_response_size and call template of this version. */
  @Property({ type: 'json' })
  definition!: Record<string, unknown>;

  @Enum({ items: () => ToolVersionStatus })
  status!: ToolVersionStatus;

  @Property({ type: 'datetime', nullable: true })
  decidedAt?: Date | null;

  @ManyToOne(() => Principal, { nullable: true, deleteRule: 'set null' })
  decidedBy?: Rel<Principal> | null;
}
