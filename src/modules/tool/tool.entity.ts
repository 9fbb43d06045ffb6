import { type Opt, type Rel } from '@mikro-orm/core';
import { Entity, Enum, Index, ManyToOne, Property, Trigger } from '@mikro-orm/decorators/legacy';
import { BaseEntity } from '../../db/base.entity.js';
import { Provider } from '../provider/provider.entity.js';

export enum ToolStatus {
  /** The current definition is approved and may be called. */
  ACTIVE = 'active',
  /** A changed definition awaits an admin's approval; the tool may not be called meanwhile. */
  QUARANTINED = 'quarantined',
  /** The provider no longer lists it (or was removed); kept with its history, not callable. */
  REMOVED = 'removed',
}

/**
 * A tool of a provider, named `provider.tool`. Its `search_vector` column (weighted name, tags,
 * description) is maintained by a database trigger and indexed with GIN; statement-level triggers keep
 * the catalog's distinct words in `search_word`, the search's typo correction (see
 * Migration20261207120000_search_words). The generated columns that the application never writes or
 * reads but through a search's rank (`name_words`, `name_vector`, `own_name_lexemes`, `tags_vector`:
 * Migration20261207160000_search_rank_columns) are declared lazy and hidden, for the schema diff only.
 * They are stored: a migration that redefines `tool_name_words` must recompute them
 * (`update tool set name = name`), as it must the search vectors.
 */
@Entity({ tableName: 'tool' })
@Index({ properties: ['provider'] })
@Index({ name: 'tool_tags_index', properties: ['tags'], type: 'gin' })
@Index({ name: 'tool_search_vector_index', properties: ['searchVector'], type: 'gin' })
@Trigger({
  name: 'tool_search_vector',
  timing: 'before',
  events: ['insert', 'update'],
  // Name and tags weigh A, description B; `weather.get_forecast` and `jira.createIssue` are indexed
  // as their words (`tool_name_words`, which the name-words index of the search uses too).
  body: `new.search_vector :=
    setweight(to_tsvector('english', tool_name_words(new.name)), 'A') ||
    setweight(to_tsvector('english', array_to_string(new.tags, ' ')), 'A') ||
    setweight(to_tsvector('english', coalesce(new.description, '')), 'B');
  return new;`,
})
export class Tool extends BaseEntity {
  @Property({ type: 'string', length: 300, unique: true })
  name!: string;

  @ManyToOne(() => Provider, { deleteRule: 'cascade' })
  provider!: Rel<Provider>;

  @Property({ type: 'text', default: '' })
  description: Opt<string> = '';

  @Property({ type: 'json', nullable: true })
  inputs?: Record<string, unknown> | null;

  @Property({ type: 'json', nullable: true })
  outputs?: Record<string, unknown> | null;

  @Property({ type: 'text[]', defaultRaw: "'{}'" })
  tags: Opt<string[]> = [];

  @Property({ type: 'integer', nullable: true })
  averageResponseSize?: number | null;

  @Property({ type: 'json' })
  callTemplate!: Record<string, unknown>;

  @Property({ type: 'boolean', default: true })
  enabled: Opt<boolean> = true;

  @Enum({ items: () => ToolStatus, default: ToolStatus.ACTIVE })
  status: Opt<ToolStatus> = ToolStatus.ACTIVE;

  /** sha-256 of name, description, schemas and call template of the current version. */
  @Property({ type: 'string', length: 64 })
  definitionHash!: string;

  @Property({ type: 'integer', default: 1 })
  version: Opt<number> = 1;

  /** Maintained by the `tool_search_vector` trigger; never written by the application. */
  @Property({ columnType: 'tsvector', type: 'unknown', nullable: true, lazy: true, hidden: true, persist: true })
  searchVector?: unknown;

  // The search rank's stored inputs (Migration20261207160000_search_rank_columns), declared so that
  // `migration create` keeps them; never read or written through the ORM.
  @Property({ columnType: 'text', type: 'unknown', nullable: true, lazy: true, hidden: true, generated: '(tool_name_words((name)::text)) stored', ignoreSchemaChanges: ['type', 'extra'] })
  nameWords?: unknown;

  @Property({ columnType: 'tsvector', type: 'unknown', nullable: true, lazy: true, hidden: true, generated: "(to_tsvector('english'::regconfig, tool_name_words((name)::text))) stored", ignoreSchemaChanges: ['type', 'extra'] })
  nameVector?: unknown;

  @Property({
    columnType: 'text[]',
    type: 'unknown',
    nullable: true,
    lazy: true,
    hidden: true,
    generated: "(tsvector_to_array(to_tsvector('english'::regconfig, tool_name_words(substr((name)::text, (strpos((name)::text, '.'::text) + 1)))))) stored",
    ignoreSchemaChanges: ['type', 'extra'],
  })
  ownNameLexemes?: unknown;

  @Property({ columnType: 'tsvector', type: 'unknown', nullable: true, lazy: true, hidden: true, generated: "(to_tsvector('english'::regconfig, tool_tags_text(tags))) stored", ignoreSchemaChanges: ['type', 'extra'] })
  tagsVector?: unknown;
}
