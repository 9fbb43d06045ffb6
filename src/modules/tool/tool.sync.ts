import { randomUUID } from 'node:crypto';
import { type EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { type Provider } from '../provider/provider.entity.js';
import { definitionHash, definitionOf, isAdditiveChange, type ToolDefinition } from './tool.definition.js';
import { ToolVersion, ToolVersionStatus } from './tool-version.entity.js';
import { Tool, ToolStatus } from './tool.entity.js';

/** New tools (with their first versions) inserted per statement: a few hundred kilobytes of JSON each. */
const INSERT_SLICE = 50;
const TOOL_COLUMNS = ['id', 'name', 'provider_id', 'description', 'inputs', 'outputs', 'tags', 'average_response_size', 'call_template', 'status', 'definition_hash', 'version'];

/**
 * Inserts new tools (objects keyed by TOOL_COLUMNS; the other columns take their defaults) and the
 * first version of each, with `versionStatus`, in the caller's transaction and in one statement.
 * The rows are one JSON text sent as a bound parameter (`em.execute` would inline it into the SQL,
 * escaping it character by character: ~700 MB of garbage for a large import), and each version's
 * definition is built from its inserted tool row by the database, so the definitions are not sent
 * (nor serialised) twice.
 */
async function insertNewTools(em: EntityManager, rows: readonly Record<string, unknown>[], versionStatus: ToolVersionStatus): Promise<void> {
  const columns = sql.join(TOOL_COLUMNS.map((c) => sql.ref(c)));
  const decidedAt = versionStatus === ToolVersionStatus.PENDING ? null : new Date();
  await sql`
    with inserted as (
      insert into tool (${columns}) select ${columns} from jsonb_populate_recordset(null::tool, ${JSON.stringify(rows)}::jsonb)
      returning id, name, description, inputs, outputs, tags, average_response_size, call_template, definition_hash
    )
    insert into tool_version (id, tool_id, version, definition_hash, definition, status, decided_at)
    select gen_random_uuid(), id, 1, definition_hash,
      jsonb_build_object('name', name, 'description', description, 'inputs', inputs, 'outputs', outputs, 'tags', to_jsonb(tags),
        'averageResponseSize', average_response_size, 'callTemplate', call_template),
      ${versionStatus}, ${decidedAt}::timestamptz
    from inserted`.execute(em.getKysely());
}

/** What a sync changed, by tool name. */
export interface SyncResult {
  created: string[];
  /** Changed and applied at once (additive changes, or when changes are not quarantined). */
  updated: string[];
  /** Changed, waiting for an admin's approval; still callable? no: quarantined tools are not. */
  quarantined: string[];
  /** No longer listed by the provider: kept, with their history, but not callable. */
  removed: string[];
  /** Listed again after having been removed, or back to their approved definition. */
  restored: string[];
  unchanged: string[];
}

export interface SyncOptions {
  /** Hold back non-additive changes for approval (rug-pull protection). */
  quarantineChanges: boolean;
  /**
   * Hold back new tools too: each starts quarantined with a pending version 1 and no approved one
   * (a provider name taken over after an admin released it from its former owner).
   */
  quarantineNew?: boolean;
}

/**
 * Brings a provider's tools in line with `definitions` inside the caller's transaction: adds new
 * tools, versions changed ones (applied, or quarantined with a pending version), marks vanished
 * ones removed, and restores those that come back. A tool that never had an approved version is
 * never made callable here, whatever the options: only an admin's approval does that.
 * Flushes; never commits.
 */
export async function syncTools(
  em: EntityManager,
  provider: Provider,
  definitions: ToolDefinition[],
  options: SyncOptions,
): Promise<SyncResult> {
  const result: SyncResult = { created: [], updated: [], quarantined: [], removed: [], restored: [], unchanged: [] };
  const tools = await em.find(Tool, { provider });
  const existing = new Map(tools.map((t) => [t.name, t]));
  const versions = tools.length ? await em.find(ToolVersion, { tool: { $in: tools } }) : [];
  const versionsOf = (tool: Tool) => versions.filter((v) => v.tool === tool);
  // Tools without any version row predate version history: their stored definition counts as approved.
  const neverApproved = (tool: Tool) => versionsOf(tool).length > 0 && !versionsOf(tool).some((v) => v.status === ToolVersionStatus.APPROVED);
  const nextVersion = (tool: Tool) => Math.max(tool.version, ...versionsOf(tool).map((v) => v.version)) + 1;
  const rejectPending = (tool: Tool) => {
    for (const pending of versionsOf(tool).filter((v) => v.status === ToolVersionStatus.PENDING)) {
      pending.status = ToolVersionStatus.REJECTED;
      pending.decidedAt = new Date();
    }
  };
  const record = (tool: Tool, definition: ToolDefinition, hash: string, version: number, status: ToolVersionStatus) => {
    const row = em.create(ToolVersion, {
      tool,
      version,
      definitionHash: hash,
      definition: { ...definition },
      status,
      decidedAt: status === ToolVersionStatus.PENDING ? null : new Date(),
    });
    versions.push(row);
  };
  // New tools and their first versions skip the ORM (entities, snapshots, SQL with inlined values):
  // plain rows keyed by column, inserted after the flush below by `insertNewTools`.
  const newTools: Record<string, unknown>[] = [];

  for (const definition of definitions) {
    const hash = definitionHash(definition);
    const tool = existing.get(definition.name);
    existing.delete(definition.name);
    if (!tool) {
      const held = options.quarantineNew === true;
      const status = held ? ToolStatus.QUARANTINED : ToolStatus.ACTIVE;
      const id = randomUUID();
      newTools.push({
        id,
        name: definition.name,
        provider_id: provider.id,
        description: definition.description,
        inputs: definition.inputs,
        outputs: definition.outputs,
        tags: definition.tags,
        average_response_size: definition.averageResponseSize,
        call_template: definition.callTemplate,
        status,
        definition_hash: hash,
        version: 1,
      });
      (held ? result.quarantined : result.created).push(definition.name);
      continue;
    }
    if (neverApproved(tool)) {
      // Nothing approved to fall back on: the row shows the newest pending definition, still held.
      const pending = versionsOf(tool).find((v) => v.status === ToolVersionStatus.PENDING);
      if (pending?.definitionHash === hash && tool.status === ToolStatus.QUARANTINED) {
        result.unchanged.push(definition.name);
        continue;
      }
      rejectPending(tool);
      const version = nextVersion(tool);
      em.assign(tool, { ...definition, definitionHash: hash, version, status: ToolStatus.QUARANTINED });
      record(tool, definition, hash, version, ToolVersionStatus.PENDING);
      result.quarantined.push(definition.name);
      continue;
    }
    if (tool.definitionHash === hash) {
      const tagsChanged = tool.tags.join('\0') !== definition.tags.join('\0');
      if (tagsChanged) tool.tags = definition.tags;
      if (tool.status !== ToolStatus.ACTIVE) {
        rejectPending(tool);
        tool.status = ToolStatus.ACTIVE;
        result.restored.push(definition.name);
      } else {
        (tagsChanged ? result.updated : result.unchanged).push(definition.name);
      }
      continue;
    }
    const pending = versionsOf(tool).find((v) => v.status === ToolVersionStatus.PENDING);
    if (pending?.definitionHash === hash) {
      result.unchanged.push(definition.name);
      continue;
    }
    rejectPending(tool);
    const version = nextVersion(tool);
    if (!options.quarantineChanges || isAdditiveChange(definitionOf(tool), definition)) {
      em.assign(tool, { ...definition, definitionHash: hash, version, status: ToolStatus.ACTIVE });
      record(tool, definition, hash, version, ToolVersionStatus.APPROVED);
      result.updated.push(definition.name);
    } else {
      record(tool, definition, hash, version, ToolVersionStatus.PENDING);
      tool.status = ToolStatus.QUARANTINED;
      result.quarantined.push(definition.name);
    }
  }
  for (const vanished of existing.values()) {
    if (vanished.status === ToolStatus.REMOVED) continue;
    rejectPending(vanished);
    vanished.status = ToolStatus.REMOVED;
    result.removed.push(vanished.name);
  }
  await em.flush();
  // In slices, so that the JSON text of only one slice's rows exists at a time.
  const versionStatus = options.quarantineNew === true ? ToolVersionStatus.PENDING : ToolVersionStatus.APPROVED;
  for (let start = 0; start < newTools.length; start += INSERT_SLICE) {
    await insertNewTools(em, newTools.slice(start, start + INSERT_SLICE), versionStatus);
  }
  return result;
}

/**
 * Applies a tool's pending version: its definition becomes the tool's, the tool is callable
 * again. Returns null when the tool has no pending version with that number.
 */
export async function approvePendingVersion(em: EntityManager, tool: Tool, version: number, decidedBy: string | null): Promise<ToolVersion | null> {
  const pending = await em.findOne(ToolVersion, { tool, version, status: ToolVersionStatus.PENDING });
  if (!pending) return null;
  const definition = pending.definition as unknown as ToolDefinition;
  em.assign(tool, { ...definition, definitionHash: pending.definitionHash, version: pending.version, status: ToolStatus.ACTIVE });
  em.assign(pending, { status: ToolVersionStatus.APPROVED, decidedAt: new Date(), decidedBy });
  await em.flush();
  return pending;
}
