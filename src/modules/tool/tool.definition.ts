import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { type UtcpTool } from '../../utcp/manual.schema.js';

/** The parts of a tool that make up one version of it. */
export interface ToolDefinition {
  name: string;
  description: string;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown> | null;
  tags: string[];
  averageResponseSize: number | null;
  callTemplate: Record<string, unknown>;
}

/** Builds the stored definition of a manual's tool, named `provider.tool`. */
export function toolDefinition(providerName: string, tool: UtcpTool): ToolDefinition {
  // A manual served by another registry may already prefix its tools with the provider's name.
  const local = tool.name.startsWith(`${providerName}.`) ? tool.name.slice(providerName.length + 1) : tool.name;
  return {
    name: `${providerName}.${local}`,
    description: tool.description,
    inputs: tool.inputs,
    outputs: tool.outputs ?? null,
    tags: [...new Set(tool.tags)],
    averageResponseSize: tool.average_response_size ?? null,
    callTemplate: tool.tool_call_template,
  };
}

/** sha-256 over the canonical JSON (RFC 8785) of name, description, schemas and call template. */
export function definitionHash(definition: ToolDefinition): string {
  const body = canonicalize({
    name: definition.name,
    description: definition.description,
    inputs: definition.inputs,
    outputs: definition.outputs,
    callTemplate: definition.callTemplate,
  });
  return createHash('sha256').update(body ?? '').digest('hex');
}

type Schema = Record<string, unknown> | null | undefined;

function propertiesOf(schema: Schema): Record<string, unknown> {
  const properties = schema?.properties;
  return properties && typeof properties === 'object' ? (properties as Record<string, unknown>) : {};
}

function requiredOf(schema: Schema): string[] {
  return Array.isArray(schema?.required) ? [...(schema.required as string[])].sort() : [];
}

const same = (a: unknown, b: unknown) => canonicalize(a ?? null) === canonicalize(b ?? null);

/**
 * Whether `next` differs from `previous` only by new optional input properties: the kind of
 * change that cannot alter what existing callers send or get, so it needs no approval.
 */
export function isAdditiveChange(previous: ToolDefinition, next: ToolDefinition): boolean {
  if (!same(previous.description, next.description) || !same(previous.outputs, next.outputs)) return false;
  if (!same(previous.callTemplate, next.callTemplate)) return false;
  const { properties: _p, required: _r, ...previousRest } = previous.inputs;
  const { properties: _np, required: _nr, ...nextRest } = next.inputs;
  if (!same(previousRest, nextRest) || !same(requiredOf(previous.inputs), requiredOf(next.inputs))) return false;
  const before = propertiesOf(previous.inputs);
  const after = propertiesOf(next.inputs);
  return Object.entries(before).every(([name, schema]) => name in after && same(schema, after[name]));
}

/** The definition a stored tool currently has. */
export function definitionOf(tool: {
  name: string;
  description: string;
  inputs?: Record<string, unknown> | null;
  outputs?: Record<string, unknown> | null;
  tags: string[];
  averageResponseSize?: number | null;
  callTemplate: Record<string, unknown>;
}): ToolDefinition {
  return {
    name: tool.name,
    description: tool.description,
    inputs: tool.inputs ?? { type: 'object', properties: {} },
    outputs: tool.outputs ?? null,
    tags: tool.tags,
    averageResponseSize: tool.averageResponseSize ?? null,
    callTemplate: tool.callTemplate,
  };
}
