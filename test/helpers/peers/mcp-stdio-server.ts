/**
 * A real MCP server over stdio, built with the SDK's McpServer, for discovery tests.
 * Run as `node mcp-stdio-server.ts`; it serves until its stdin closes. With `--executor-tools` it
 * also serves the tools of ./mcp-executor-tools.ts.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'calculator', version: '1.0.0' });

server.registerTool(
  'add',
  {
    description: 'Adds two numbers',
    inputSchema: { a: z.number().describe('first addend'), b: z.number().describe('second addend') },
    outputSchema: { sum: z.number() },
  },
  async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }], structuredContent: { sum: a + b } }),
);

server.registerTool(
  'echo',
  { description: 'Repeats a message', inputSchema: { message: z.string() } },
  async ({ message }) => ({ content: [{ type: 'text', text: message }] }),
);

server.registerTool('get-time', { description: 'Tells the time (a kebab-case MCP name)' }, async () => ({
  content: [{ type: 'text', text: new Date().toISOString() }],
}));

if (process.argv.includes('--executor-tools')) {
  // node runs this file as TypeScript and needs the `.ts` name, which tsc refuses in a static import.
  const tools = (await import(new URL('./mcp-executor-tools.ts', import.meta.url).href)) as typeof import('./mcp-executor-tools.js');
  tools.registerExecutorTools(server);
}

await server.connect(new StdioServerTransport());
process.stdin.on('end', () => process.exit(0));
