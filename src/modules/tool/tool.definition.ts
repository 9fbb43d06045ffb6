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
