import DataLoader from 'dataloader';
import { LRUCache } from 'lru-cache';
import { ReferenceKind } from '@mikro-orm/core';
import { type EntityManager } from '@mikro-orm/postgresql';
import { isUuid } from '../../common/ids.js';
import { type Database } from '../../db/database.js';
import { Scope } from '../../security/scopes.js';
import { type Viewer } from '../principal/viewer.js';
import { decodeCursor, encodeCursor, type Page, pageSize, toPage } from '../../common/pagination.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { parseManual } from '../../utcp/manual.schema.js';
import { type Actor, auditActor, AuditOutcome, AuditService } from '../audit/index.js';
import { type CallTemplateType, Provider } from '../provider/provider.entity.js';
import { toolDefinition } from './tool.definition.js';
import { correctionOf, type SearchConditions, searchCountStatement, searchCursor, searchStatement } from './tool.search.js';
import { EVERY_COLUMN, type Projection, type TOOL_DERIVED_READS } from './tool.projection.js';
import { type SyncResult, syncTools } from './tool.sync.js';
import { ToolVersion } from './tool-version.entity.js';
import { Tool, ToolStatus } from './tool.entity.js';
import { type ReadFilter, type SqlFilter } from './tool.visibility.js';

/** Criteria of a tool listing; every given one must hold. */
export interface ToolListFilter {
  search?: string | null;
  tags?: string[] | null;
  provider?: string | null;
  callTemplateType?: CallTemplateType | null;
  enabled?: boolean | null;
  /** Tools in any of these states; by default all but those removed upstream. */
  status?: ToolStatus[] | null;
}

export interface ToolListArgs {
  first?: number | null;
  after?: string | null;
  filter?: ToolListFilter | null;
  /** A further condition on the tool table (alias `t`), e.g. the tools an `execute` policy allows. */
  where?: SqlFilter | null;
  /** What the caller reads of the rows (see tool.projection.ts); every column by default. */
  projection?: Projection;
}

/** What an import changed, by tool name. */
export interface ManualImport extends SyncResult {
  provider: Provider;
}


const PROVIDER_NAME = /^[A-Za-z0-9_]{1,128}$/;
const MAX_SEARCH_LENGTH = 200;

/** How a listing selects and reads an entity's table: its columns, and a row as a plain object. */
interface RowShape<T> {
  /** The selected columns (all mapped ones but lazy ones such as the search vector), as `alias."column"`. */
  columns: string;
  /** A row of those columns as a read-only object, not tracked by the ORM (a listing changes nothing). */
  read(row: Record<string, unknown>): T;
}

/** The tool and provider shapes of a listing. */
interface Shapes {
  tool: RowShape<Tool>;
  /** Provider columns selected under a prefix (`p."id" as "p.id"`), so they sit beside the tool's. */
  provider: RowShape<Provider>;
}

/** The shapes of one ORM metadata: every column, and those of projections seen (see tool.projection.ts). */
interface ListingShapes extends Shapes {
  projected: LRUCache<string, Shapes>;
}

/** Projections whose shapes (and generated readers) are kept; a few cover the clients a registry has. */
const PROJECTIONS_KEPT = 64;

const shapes = new WeakMap<object, ListingShapes>();
/**
 * Where a listed tool keeps the provider read with it in the same query. A symbol-keyed own
 * property rather than a WeakMap beside the tools: a page set 50 entries of a process-wide weak
 * table per request, which cost more than reading the rows.
 */
const JOINED_PROVIDER = Symbol('joinedProvider');

/** Keeps `provider` on `tool` as the one read with it (not enumerable: copies and comparisons ignore it). */
function joinProvider(tool: Tool, provider: Provider): Tool {
  return Object.defineProperty(tool, JOINED_PROVIDER, { value: provider });
}

/** The provider read with `tool` in the same query (tool listings), if any. */
export function joinedProvider(tool: Tool): Provider | undefined {
  return (tool as Tool & { [JOINED_PROVIDER]?: Provider })[JOINED_PROVIDER];
}

/** How one mapped column becomes a property of the read object. */
interface ColumnRead {
  property: string;
  /** The column's key in the row. */
  key: string;
  /** A many-to-one: the row holds the referenced id, read as `{ id }` (or null). */
  reference: boolean;
  /** A timestamp, which the embedded database's driver returns as text. */
  date: boolean;
}

/**
 * A function reading a row into a plain object with these columns. It is generated once per shape
 * from the ORM metadata (names and keys are written as JSON string literals), so that every object
 * is built by one object literal of a fixed shape rather than by a loop storing ever-different keys,
 * which V8 cannot keep fast; a listing reads two objects per row of every page.
 */
function rowReader(columns: readonly ColumnRead[]): (row: Record<string, unknown>) => Record<string, unknown> {
  const entries = columns.map(({ property, key, reference, date }) => {
    const value = `row[${JSON.stringify(key)}]`;
    const read = reference
      ? `(v = ${value}) === null || v === undefined ? null : { id: v }`
      : date
        ? `(v = ${value}) === null || v === undefined || v instanceof Date ? v : new Date(v)`
        : value;
    return `${JSON.stringify(property)}: ${read}`;
  });
  return new Function('row', `let v; return { ${entries.join(', ')} };`) as (row: Record<string, unknown>) => Record<string, unknown>;
}

/**
 * How `entity`'s table is read under `alias`, its columns named `prefix` + column in the row (none
 * when ''): every mapped column but lazy ones, or only those of the properties in `only`, plus the
 * values of `derived` (SQL over `alias`, named `prefix` + property) that `only` names.
 */
function rowShape<T extends object>(
  em: EntityManager,
  entity: new () => T,
  alias: string,
  prefix: string,
  only: ReadonlySet<string> | null = null,
  derived: Readonly<Record<string, (alias: string) => string>> = {},
): RowShape<T> {
  const props = em
    .getMetadata()
    .get<T>(entity)
    .props.filter((p) => p.persist !== false && !p.lazy && p.fieldNames?.length && (only === null || only.has(p.name as string)));
  const computed = Object.keys(derived).filter((property) => only?.has(property));
  const read = rowReader([
    ...props.map((p) => ({
      property: p.name as string,
      key: `${prefix}${p.fieldNames[0]!}`,
      reference: p.kind === ReferenceKind.MANY_TO_ONE,
      date: p.runtimeType === 'Date',
    })),
    ...computed.map((property) => ({ property, key: `${prefix}${property}`, reference: false, date: false })),
  ]);
  // An array column (tags, pins) is sent as JSON: the driver parses it with JSON.parse instead of its
  // array-literal parser, which built each string a character at a time (a tenth of the bytes a
  // catalog miss allocated).
  const column = (p: (typeof props)[number], f: string) =>
    p.columnTypes?.[0]?.endsWith('[]') ? `to_json(${alias}."${f}") as "${prefix}${f}"` : prefix ? `${alias}."${f}" as "${prefix}${f}"` : `${alias}."${f}"`;
  return {
    columns: [...props.flatMap((p) => p.fieldNames.map((f) => column(p, f))), ...computed.map((property) => `${derived[property]!(alias)} as "${prefix}${property}"`)].join(', '),
    read: read as (row: Record<string, unknown>) => T,
  };
}

/**
 * Values a tool listing may read computed by the database instead of a whole column (see
 * {@link TOOL_DERIVED_READS}): the call template's type, rather than every call template of the page
 * sent as text and parsed.
 */
const TOOL_DERIVED: Readonly<Record<(typeof TOOL_DERIVED_READS)[number], (alias: string) => string>> = {
  callTemplateType: (alias) => `${alias}."call_template"->>'call_template_type'`,
};

/** A listed tool as read with what its listing derived (absent on tools the ORM loads). */
type ListedTool = Tool & { readonly [K in (typeof TOOL_DERIVED_READS)[number]]?: string };

/** The type of `tool`'s call template: derived by its listing when it read only that, else from the template. */
export function callTemplateTypeOf(tool: Tool): CallTemplateType {
  return ('callTemplateType' in tool ? (tool as ListedTool).callTemplateType : tool.callTemplate.call_template_type) as CallTemplateType;
}

/**
 * The shapes of tool listings, computed once per ORM metadata rather than for every request's
 * service. Listings read rows into plain objects: mapping them into managed entities (identity
 * map, change-tracking snapshots of the JSON schemas) cost more than the query itself.
 */
function listingShapes(em: EntityManager): ListingShapes {
  const metadata = em.getMetadata();
  let found = shapes.get(metadata);
  if (found === undefined) {
    found = { tool: rowShape<Tool>(em, Tool, 't', ''), provider: rowShape<Provider>(em, Provider, 'p', 'p.'), projected: new LRUCache({ max: PROJECTIONS_KEPT }) };
    shapes.set(metadata, found);
  }
  return found;
}

/** The shapes of a listing that reads what `projection` names (see tool.projection.ts). */
function projectedShapes(em: EntityManager, projection: Projection): Shapes {
  const listing = listingShapes(em);
  if (projection.tool === null && projection.provider === null) return listing;
  const key = [projection.tool, projection.provider].map((set) => (set ? [...set].sort().join(',') : '*')).join('|');
  let found = listing.projected.get(key);
  if (found === undefined) {
    found = {
      tool: projection.tool ? rowShape<Tool>(em, Tool, 't', '', projection.tool, TOOL_DERIVED) : listing.tool,
      provider: projection.provider ? rowShape<Provider>(em, Provider, 'p', 'p.', projection.provider) : listing.provider,
    };
    listing.projected.set(key, found);
  }
  return found;
}

/** Reads the catalog and imports UTCP manuals into it. */
export class ToolService {
  private readonly shape: RowShape<Tool>;

  /**
   * `readFilter` yields which tools the caller may read (their `read` policies, see tool.visibility.ts);
   * without it the service sees every tool (seeding, imports, internal lookups). `reads`: where the
   * catalog's reads (listings, lookups) run as statements with bound values, prepared while their
   * texts are few (see {@link Database.statement}); without it they run through `em`.
   */
  constructor(
    private readonly em: EntityManager,
    private readonly readFilter: () => Promise<ReadFilter> = async () => null,
    private readonly reads?: Pick<Database, 'statement'>,
  ) {
    this.shape = listingShapes(em).tool;
  }

  /** Runs one read of the catalog; its text varies with the request (columns, filters, policies). */
  private read<T extends object>(sql: string, params: readonly unknown[]): Promise<T[]> {
    return this.reads ? this.reads.statement<T>(sql, params, { textVaries: true }) : this.em.execute<T[]>(sql, [...params]);
  }

  private versionLoader?: DataLoader<string, ToolVersion[]>;

  /** Which tools the caller may read: null for all, else the condition on the tool table. */
  visibility(): Promise<ReadFilter> {
    return this.readFilter();
  }

  /** Every version of a tool, newest first; batched so a page of tools loads its versions in one query. */
  versionsOf(toolId: string): Promise<ToolVersion[]> {
    this.versionLoader ??= new DataLoader(async (ids) => {
      const found = await this.em.find(ToolVersion, { tool: { $in: [...ids] } }, { orderBy: { version: 'desc' } });
      return ids.map((id) => found.filter((v) => v.tool.id === id));
    });
    return this.versionLoader.load(toolId);
  }

  /** The tool with this id, or null (also for ids that are not UUIDs). */
  async findById(id: string): Promise<Tool | null> {
    return isUuid(id) ? this.em.findOne(Tool, { id }) : null;
  }

  /**
   * The tool with this id when `viewer` may read the catalog (federation `_entities`), else null
   * without saying whether it exists.
   */
  async findVisibleById(id: string, viewer: Viewer | null): Promise<Tool | null> {
    if (!viewer?.scopes.has(Scope.TOOLS_READ) || !isUuid(id)) return null;
    return this.findReadable('t.id = ?', id);
  }

  /** The tool with this name, whatever the caller may read (internal lookups). */
  findByName(name: string): Promise<Tool | null> {
    return this.em.findOne(Tool, { name });
  }

  /** The tool with this name when the caller may read it, else null without saying whether it exists. */
  findReadableByName(name: string): Promise<Tool | null> {
    return this.findReadable('t.name = ?', name);
  }

  /** Those of the named tools the caller may read, in any state (removed ones included). */
  async findReadableByNames(names: readonly string[]): Promise<Tool[]> {
    if (names.length === 0) return [];
    // One JSON parameter rather than a list, so that every number of names is the same statement.
    return this.findAllReadable('t.name in (select jsonb_array_elements_text(?::jsonb))', JSON.stringify(names));
  }

  private async findReadable(condition: string, value: string): Promise<Tool | null> {
    const [tool] = await this.findAllReadable(condition, value);
    return tool ?? null;
  }

  private async findAllReadable(condition: string, value: unknown): Promise<Tool[]> {
    const filter = await this.readFilter();
    const rows = await this.read<Record<string, unknown>>(`select ${this.shape.columns} from tool t where ${condition}${filter ? ` and ${filter.sql}` : ''}`, [
      value,
      ...(filter?.params ?? []),
    ]);
    return rows.map((row) => this.shape.read(row));
  }

  /**
   * One page of tools. Without `search`, ordered by name; with it, by relevance (top-K candidates,
   * see tool.search.ts), then name. Runs one query,
   * which reads each tool's provider too (see {@link joinedProvider}), plus one more only when the
   * total count is asked for.
   * Throws PAGE_SIZE_EXCEEDED, INVALID_CURSOR or BAD_USER_INPUT for bad arguments.
   */
  async list(args: ToolListArgs): Promise<Page<Tool>> {
    const size = pageSize(args.first);
    const filter = args.filter ?? {};
    const where: string[] = [];
    const params: unknown[] = [];
    const search = filter.search?.trim() ?? '';
    if (search.length > MAX_SEARCH_LENGTH) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, `\`search\` may be at most ${MAX_SEARCH_LENGTH} characters`, {
        argument: 'filter.search',
      });
    }
    if (filter.tags?.length) {
      // The ORM expands an array parameter into a list, so it is wrapped in array[...].
      where.push(`t.tags @> array[?]::text[]`);
      params.push(filter.tags);
    }
    if (filter.provider) {
      where.push(`t.provider_id = (select p.id from provider p where p.name = ?)`);
      params.push(filter.provider);
    }
    if (filter.callTemplateType) {
      where.push(`t.call_template->>'call_template_type' = ?`);
      params.push(filter.callTemplateType);
    }
    if (filter.enabled !== undefined && filter.enabled !== null) {
      where.push(`t.enabled = ?`);
      params.push(filter.enabled);
    }
    if (filter.status?.length) {
      where.push(`t.status in (?)`);
      params.push(filter.status);
    } else {
      where.push(`t.status <> '${ToolStatus.REMOVED}'`);
    }

    for (const extra of [await this.readFilter(), args.where]) {
      if (!extra) continue;
      where.push(extra.sql);
      params.push(...extra.params);
    }

    const shapes = projectedShapes(this.em, args.projection ?? EVERY_COLUMN);
    if (search) return this.search(search, { where, params }, size, shapes, args.after);
    const total = async (): Promise<number> => {
      const sql = `select count(*)::int as count from tool t${where.length ? ` where ${where.join(' and ')}` : ''}`;
      const [row] = await this.read<{ count: number }>(sql, params);
      return row?.count ?? 0;
    };
    const pageWhere = [...where];
    const pageParams = [...params];
    if (args.after) {
      const [afterName] = decodeCursor<[string]>('tools', args.after, ['string']);
      pageWhere.push(`t.name > ?`);
      pageParams.push(afterName);
    }
    // The page's providers come with it (the `provider` field then needs no query of its own).
    // Without filters or policy conditions, the limit is written into the text: the prepared
    // statement's plan is then the same for every execution, and PostgreSQL reuses it instead of
    // planning each miss anew (with `limit $n` its generic plan is costed for a tenth of the table,
    // so it never is). With conditions on values, which plan is best depends on them: the limit
    // stays a parameter, and every execution is planned for its values.
    const fixedPlan = params.length === 0;
    const sql = [
      `select ${shapes.tool.columns}, ${shapes.provider.columns}`,
      `from tool t join provider p on p.id = t.provider_id`,
      pageWhere.length ? `where ${pageWhere.join(' and ')}` : '',
      `order by t.name asc limit ${fixedPlan ? String(size + 1) : '?'}`,
    ].join(' ');
    const rows = await this.read<Record<string, unknown>>(sql, fixedPlan ? pageParams : [...pageParams, size + 1]);
    const tools = rows.map((row) => joinProvider(shapes.tool.read(row), shapes.provider.read(row)));
    return toPage(tools, size, args.after, (tool: Tool) => encodeCursor('tools', [tool.name]), total);
  }

  /**
   * One page of a ranked search: top-K candidates from indexes, ranked, in one statement (see
   * tool.search.ts); when the full text finds too few and the search has words no tool has, one
   * more with those words corrected; plus one more only when the total count is asked for.
   * Throws INVALID_CURSOR for a cursor of another listing.
   */
  private async search(search: string, conditions: SearchConditions, size: number, shapes: Shapes, after?: string | null): Promise<Page<Tool>> {
    const columns = `${shapes.tool.columns}, ${shapes.provider.columns}`;
    const page = searchStatement(search, conditions, columns, size + 1, after);
    let rows = await this.em.execute<Record<string, unknown>[]>(page.sql, page.params);
    const correction = correctionOf(search, rows);
    if (correction) {
      const corrected = searchStatement(search, conditions, columns, size + 1, after, correction);
      rows = await this.em.execute<Record<string, unknown>[]>(corrected.sql, corrected.params);
    }
    const ranks = new Map<Tool, number>();
    const tools = rows.filter((row) => row.rank !== null).map(({ rank, fixes: _fixes, ...columns }) => {
      const tool = joinProvider(shapes.tool.read(columns), shapes.provider.read(columns));
      ranks.set(tool, Number(rank));
      return tool;
    });
    const total = async (): Promise<number> => {
      const count = searchCountStatement(search, conditions, correction);
      const [row] = await this.em.execute<{ count: number }[]>(count.sql, count.params);
      return row?.count ?? 0;
    };
    return toPage(tools, size, after, (tool) => searchCursor(ranks.get(tool) ?? 0, tool.name), total);
  }

  /**
   * Stores the tools of a UTCP 1.x manual under `providerName` (created when missing, with
   * `manualCallTemplate` describing where the manual comes from): new tools are added, changed
   * ones get a new approved version, tools no longer listed are marked removed. All of it, with
   * its audit entry, commits in one transaction or not at all.
   * Throws INVALID_MANUAL / UNSUPPORTED_UTCP_VERSION (with JSON paths) or BAD_USER_INPUT.
   */
  async importManual(
    providerName: string,
    manualInput: unknown,
    manualCallTemplate: Record<string, unknown> & { call_template_type: CallTemplateType },
    actor: Actor = {},
  ): Promise<ManualImport> {
    if (!PROVIDER_NAME.test(providerName)) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, 'A provider name is 1 to 128 letters, digits or `_`', {
        argument: 'providerName',
      });
    }
    const manual = parseManual(manualInput);
    const definitions = manual.tools.map((tool) => toolDefinition(providerName, tool));
    return this.em.transactional(async (em) => {
      let provider = await em.findOne(Provider, { name: providerName });
      if (!provider) {
        provider = em.create(Provider, {
          name: providerName,
          callTemplateType: manualCallTemplate.call_template_type,
          callTemplate: { ...manualCallTemplate, name: providerName },
          owner: actor.principalId ?? null,
        });
      }
      provider.lastDiscoveredAt = new Date();
      provider.lastError = null;
      await em.flush();
      // Imports come from the operator (seed, tests): changes apply at once, nothing is quarantined.
      const sync = await syncTools(em, provider, definitions, { quarantineChanges: false });
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'catalog.importManual',
        targetType: 'provider',
        targetId: provider.id,
        outcome: AuditOutcome.SUCCESS,
        details: {
          provider: providerName,
          manualVersion: manual.manual_version,
          created: sync.created,
          updated: sync.updated,
          removed: sync.removed,
        },
      });
      return { provider, ...sync };
    });
  }
}
