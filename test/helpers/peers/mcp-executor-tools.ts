/**
 * Extra MCP tools for executor tests, registered only where a test asks for them (the stdio server
 * with `--executor-tools`, the HTTP peer's `/exec` endpoint), so what discovery tests list is unchanged.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

/** Environment variable the `fail` tool echoes into its error text, as a leaky server might. */
export const SECRET_ENV = 'PEER_SECRET_TOKEN';

/** What the `whoami` tool answers (as JSON text). */
export interface WhoAmI {
  pid: number;
  session: string | null;
  cwd: string;
  home: string | null;
  env: Record<string, string>;
}

export function registerExecutorTools(server: McpServer): void {
  server.registerTool('whoami', { description: 'Says which process and session answers, as JSON text' }, async (extra) => {
    const answer: WhoAmI = {
      pid: process.pid,
      session: extra.sessionId ?? null,
      cwd: process.cwd(),
      home: process.env.HOME ?? null,
      env: Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined)),
    };
    return { content: [{ type: 'text', text: JSON.stringify(answer) }] };
  });

  server.registerTool('structured', { description: 'Answers with structured content and a text rendering' }, async () => ({
    content: [{ type: 'text', text: 'the answer is 42' }],
    structuredContent: { answer: 42, unit: 'none' },
  }));

  server.registerTool('parts', { description: 'Answers with two content parts' }, async () => ({
    content: [
      { type: 'text', text: 'first' },
      { type: 'text', text: '{"second":2}' },
    ],
  }));

  server.registerTool('fail', { description: 'Fails, echoing its secrets like a careless server', inputSchema: { why: z.string() } }, async ({ why }, extra) => {
    const authorization = extra.requestInfo?.headers.authorization;
    return {
      isError: true,
      content: [{ type: 'text', text: `it broke (${why}); token=${process.env[SECRET_ENV] ?? 'none'} authorization=${String(authorization ?? 'none')}` }],
    };
  });

  server.registerTool('slow', { description: 'Answers after `ms` milliseconds', inputSchema: { ms: z.number() } }, async ({ ms }, extra) => {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      extra.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return { content: [{ type: 'text', text: `slept ${ms} ms` }] };
  });

  server.registerTool('big', { description: 'Answers with `size` characters', inputSchema: { size: z.number() } }, async ({ size }) => ({
    content: [{ type: 'text', text: 'x'.repeat(size) }],
  }));
}
