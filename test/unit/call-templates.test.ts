import { describe, expect, it } from 'vitest';
import { ManualValidationError } from '../../src/errors.js';
import { CALL_TEMPLATE_TYPES, parseCallTemplate } from '../../src/utcp/call-templates.js';

function problems(input: unknown, path?: string) {
  try {
    parseCallTemplate(input, path);
  } catch (error) {
    expect(error).toBeInstanceOf(ManualValidationError);
    expect((error as ManualValidationError).extensions.code).toBe('INVALID_MANUAL');
    return (error as ManualValidationError).problems;
  }
  throw new Error('expected the call template to be refused');
}

function messageAt(input: unknown, path: string): string | undefined {
  return problems(input).find((p) => p.path === path)?.message;
}

const MINIMAL: Record<(typeof CALL_TEMPLATE_TYPES)[number], Record<string, unknown>> = {
  http: { call_template_type: 'http', url: 'https://api.example.com/users/{user_id}' },
  sse: { call_template_type: 'sse', url: 'https://api.example.com/events' },
  streamable_http: { call_template_type: 'streamable_http', url: 'https://api.example.com/stream' },
  cli: { call_template_type: 'cli', commands: [{ command: 'echo UTCP_ARG_message_UTCP_END' }] },
  websocket: { call_template_type: 'websocket', url: 'wss://api.example.com/ws' },
  graphql: { call_template_type: 'graphql', url: 'https://api.example.com/graphql' },
  mcp: { call_template_type: 'mcp', config: { mcpServers: { playwright: { command: 'npx', args: ['@playwright/mcp@latest'] } } } },
  text: { call_template_type: 'text', content: '{"utcp_version":"1.1.0","tools":[]}' },
  file: { call_template_type: 'file', file_path: 'manuals/weather.json' },
};

describe('parseCallTemplate', () => {
  it('accepts the smallest valid template of each of the nine UTCP 1.1 types', () => {
    expect(Object.keys(MINIMAL)).toEqual([...CALL_TEMPLATE_TYPES]);
    for (const template of Object.values(MINIMAL)) {
      expect(parseCallTemplate(template)).toMatchObject(template);
    }
  });

  it("fills in python-utcp's defaults", () => {
    expect(parseCallTemplate(MINIMAL.http)).toEqual({
      ...MINIMAL.http,
      http_method: 'GET',
      content_type: 'application/json',
      body_field: 'body',
    });
    expect(parseCallTemplate(MINIMAL.sse)).toMatchObject({ reconnect: true, retry_timeout: 30_000 });
    expect(parseCallTemplate(MINIMAL.streamable_http)).toMatchObject({
      http_method: 'GET',
      content_type: 'application/octet-stream',
      chunk_size: 4096,
      timeout: 60_000,
    });
    expect(parseCallTemplate(MINIMAL.websocket)).toMatchObject({ keep_alive: true, timeout: 30 });
    expect(parseCallTemplate(MINIMAL.graphql)).toMatchObject({ operation_type: 'query' });
    expect(parseCallTemplate(MINIMAL.mcp)).toMatchObject({ register_resources_as_tools: false });
  });

  it('accepts a template as python-utcp serializes it, with `null` for unset fields', () => {
    const dumped = {
      name: 'a5f0c3e1b2d44e0f9d1c2b3a4f5e6d7c',
      call_template_type: 'http',
      auth: null,
      allowed_communication_protocols: null,
      http_method: 'POST',
      url: 'https://api.example.com/items',
      content_type: 'application/json',
      auth_tools: null,
      headers: null,
      body_field: null,
      header_fields: null,
    };
    expect(parseCallTemplate(dumped)).toEqual(dumped);
    // python-utcp's SseCallTemplate declares a stray `type: "sse"`, so its dumps carry one.
    expect(() => parseCallTemplate({ ...MINIMAL.sse, type: 'sse', event_type: null, auth: null })).not.toThrow();
  });

  it('names the allowed types when `call_template_type` is missing or unknown', () => {
    expect(problems({ url: 'https://x.test' })).toEqual([
      { path: '$.call_template_type', message: `required: expected one of ${CALL_TEMPLATE_TYPES.join(', ')}` },
    ]);
    expect(messageAt({ call_template_type: 'grpc' }, '$.call_template_type')).toBe(
      'expected one of http, sse, streamable_http, cli, websocket, graphql, mcp, text, file',
    );
    expect(messageAt({ call_template_type: 'http_stream', url: 'https://x.test' }, '$.call_template_type')).toContain(
      'renamed `streamable_http`',
    );
    expect(messageAt({ provider_type: 'http', url: 'https://x.test' }, '$.call_template_type')).toContain('`provider_type`');
    expect(problems('http')).toEqual([{ path: '$', message: 'expected a call template object' }]);
  });

  it('refuses fields its type does not define, listing the ones it does', () => {
    expect(problems({ ...MINIMAL.http, query_params: { q: '${q}' } })).toEqual([
      {
        path: '$.query_params',
        message:
          'is not a field of a `http` call template; expected one of name, allowed_communication_protocols, call_template_type, http_method, url, content_type, auth, auth_tools, headers, body_field, header_fields',
      },
    ]);
    expect(problems({ ...MINIMAL.cli, commands: [{ command: 'ls', shell: true }] })[0]).toEqual({
      path: '$.commands[0].shell',
      message: 'is not a field of a `cli` command step; expected one of command, append_to_final_output, allow_option_arguments',
    });
  });

  it('refuses the removed cli `command_name`, saying to write `commands: [{ command }]`', () => {
    const found = problems({ call_template_type: 'cli', command_name: './script.sh', working_dir: '.' });
    expect(found).toContainEqual({ path: '$.command_name', message: expect.stringContaining('`commands: [{ command }]`') });
    expect(found).toContainEqual({ path: '$.commands', message: 'required: expected an array' });
  });

  it('refuses a UTCP 1.0 `text` template with `file_path`, pointing to the `file` type', () => {
    const message = messageAt({ call_template_type: 'text', file_path: './manual.json' }, '$.file_path');
    expect(message).toContain('use the `file` call template type with `file_path`');
    expect(parseCallTemplate({ call_template_type: 'file', file_path: './manual.json' })).toMatchObject({ file_path: './manual.json' });
  });

  it('requires http(s) URLs, allowing variables and path parameters', () => {
    expect(messageAt({ ...MINIMAL.http, url: 'ftp://files.example.com/x' }, '$.url')).toBe('expected an http(s) URL');
    expect(messageAt({ ...MINIMAL.graphql, url: 'not a url' }, '$.url')).toBe('expected an http(s) URL');
    expect(messageAt({ ...MINIMAL.sse, url: 42 }, '$.url')).toBe('expected a string');
    expect(messageAt({ call_template_type: 'http' }, '$.url')).toBe('required: expected a string');
    expect(() => parseCallTemplate({ ...MINIMAL.http, url: 'https://${API_HOST}/v1/{region}/items' })).not.toThrow();
    expect(() => parseCallTemplate({ ...MINIMAL.http, url: '${BASE_URL}/v1/items' })).not.toThrow();
  });

  it('refuses credentials in a URL without repeating them', () => {
    const found = problems({ ...MINIMAL.http, url: 'https://admin:s3cr3t-pw@api.example.com/' });
    expect(found).toEqual([{ path: '$.url', message: expect.stringContaining('must not carry credentials') }]);
    expect(JSON.stringify(found)).not.toContain('s3cr3t-pw');
  });

  it('requires wss:// for websockets, except to the local host (as python-utcp)', () => {
    const expected = 'expected a wss:// URL (ws:// only to localhost or 127.0.0.1)';
    expect(messageAt({ ...MINIMAL.websocket, url: 'ws://api.example.com/ws' }, '$.url')).toBe(expected);
    expect(messageAt({ ...MINIMAL.websocket, url: 'ws://localhost.evil.test/ws' }, '$.url')).toBe(expected);
    expect(messageAt({ ...MINIMAL.websocket, url: 'https://api.example.com/ws' }, '$.url')).toBe(expected);
    expect(() => parseCallTemplate({ ...MINIMAL.websocket, url: 'ws://127.0.0.1:8080/ws' })).not.toThrow();
    expect(() => parseCallTemplate({ ...MINIMAL.websocket, url: 'ws://localhost:8080/ws' })).not.toThrow();
  });

  it('checks enums, numbers and names field by field', () => {
    expect(messageAt({ ...MINIMAL.http, http_method: 'FETCH' }, '$.http_method')).toBe('expected one of GET, POST, PUT, DELETE, PATCH');
    expect(messageAt({ ...MINIMAL.streamable_http, http_method: 'PUT' }, '$.http_method')).toBe('expected one of GET, POST');
    expect(messageAt({ ...MINIMAL.streamable_http, chunk_size: 0 }, '$.chunk_size')).toBe('expected a number > 0');
    expect(messageAt({ ...MINIMAL.websocket, timeout: 1.5 }, '$.timeout')).toBe('expected an integer');
    expect(messageAt({ ...MINIMAL.graphql, operation_type: 'query { x }' }, '$.operation_type')).toBe(
      'expected one of query, mutation, subscription',
    );
    expect(messageAt({ ...MINIMAL.graphql, operation_name: 'Get } mutation { drop' }, '$.operation_name')).toContain('GraphQL name');
    expect(messageAt({ ...MINIMAL.http, name: 'my-api' }, '$.name')).toContain('letters, digits and `_`');
    expect(messageAt({ ...MINIMAL.http, allowed_communication_protocols: ['http', 'gopher'] }, '$.allowed_communication_protocols[1]')).toMatch(
      /^expected one of http, sse/,
    );
    expect(messageAt({ ...MINIMAL.cli, commands: [] }, '$.commands')).toBe('expected at least 1 item');
    expect(messageAt({ ...MINIMAL.cli, commands: [{ command: '' }] }, '$.commands[0].command')).toBe('must not be empty');
  });

  it('requires an MCP config with at least one server', () => {
    expect(messageAt({ call_template_type: 'mcp' }, '$.config')).toBe('required: expected an object');
    expect(messageAt({ call_template_type: 'mcp', config: { mcpServers: {} } }, '$.config.mcpServers')).toBe('expected at least one MCP server');
    expect(messageAt({ call_template_type: 'mcp', config: { mcpServers: { a: 'npx' } } }, '$.config.mcpServers.a')).toBe('expected an object');
    expect(messageAt({ ...MINIMAL.mcp, config: { ...(MINIMAL.mcp.config as object), servers: {} } }, '$.config.servers')).toContain(
      'is not a field of an MCP `config`',
    );
  });

  describe('auth blocks', () => {
    const withAuth = (auth: unknown, template: Record<string, unknown> = MINIMAL.http) => ({ ...template, auth });

    it('validates `api_key` auth and fills its defaults (header `X-Api-Key`)', () => {
      expect(parseCallTemplate(withAuth({ auth_type: 'api_key', api_key: '${API_KEY}' }))).toMatchObject({
        auth: { auth_type: 'api_key', api_key: '${API_KEY}', var_name: 'X-Api-Key', location: 'header' },
      });
      expect(messageAt(withAuth({ auth_type: 'api_key', api_key: '$K', location: 'body' }), '$.auth.location')).toBe(
        'expected one of header, query, cookie',
      );
      expect(messageAt(withAuth({ auth_type: 'api_key' }), '$.auth.api_key')).toBe('required: expected a string');
    });

    it('validates `basic` and `oauth2` auth field by field', () => {
      expect(messageAt(withAuth({ auth_type: 'basic', username: 'me' }), '$.auth.password')).toBe('required: expected a string');
      const oauth = { auth_type: 'oauth2', token_url: 'https://auth.example.com/token', client_id: 'registry', client_secret: '${SECRET}' };
      expect(parseCallTemplate(withAuth(oauth))).toMatchObject({ auth: oauth });
      expect(() => parseCallTemplate(withAuth({ ...oauth, scope: 'read:tools' }))).not.toThrow();
      expect(() => parseCallTemplate(withAuth({ ...oauth, scope: null }))).not.toThrow();
      expect(messageAt(withAuth({ ...oauth, token_url: 'auth.example.com' }), '$.auth.token_url')).toBe('expected an http(s) URL');
      expect(messageAt(withAuth({ ...oauth, grant_type: 'password' }), '$.auth.grant_type')).toBe(
        'is not a field of an `oauth2` auth block; expected one of auth_type, token_url, client_id, client_secret, scope',
      );
    });

    it('names the auth types when `auth_type` is missing or unknown', () => {
      expect(messageAt(withAuth({ auth_type: 'bearer', token: '$T' }), '$.auth.auth_type')).toBe('expected one of api_key, basic, oauth2');
      expect(messageAt(withAuth({ api_key: '$T' }), '$.auth.auth_type')).toBe('required: expected one of api_key, basic, oauth2');
    });

    it('accepts only OAuth 2 for MCP, and no auth at all for cli, text and file', () => {
      expect(messageAt(withAuth({ auth_type: 'api_key', api_key: '$K' }, MINIMAL.mcp), '$.auth.auth_type')).toContain('"oauth2"');
      for (const type of ['cli', 'text', 'file'] as const) {
        expect(messageAt(withAuth({ auth_type: 'api_key', api_key: '$K' }, MINIMAL[type]), '$.auth')).toContain('carries no auth');
        expect(() => parseCallTemplate(withAuth(null, MINIMAL[type]))).not.toThrow();
      }
    });

    it('accepts variable references for secrets, also after an auth scheme', () => {
      for (const value of ['${API_KEY}', '$API_KEY', 'Bearer ${API_TOKEN}', 'Bearer $API_TOKEN', 'token $GITHUB_TOKEN']) {
        expect(() => parseCallTemplate(withAuth({ auth_type: 'api_key', api_key: value, var_name: 'Authorization' }))).not.toThrow();
      }
    });

    it('refuses secrets written inline in `auth` and `auth_tools`, without repeating them', () => {
      const leaks = [
        [withAuth({ auth_type: 'api_key', api_key: 'sk-live-123456' }), '$.auth.api_key'],
        [withAuth({ auth_type: 'api_key', api_key: 'Bearer sk-live-123456' }), '$.auth.api_key'],
        [withAuth({ auth_type: 'api_key', api_key: 'sk-live-123456 ${API_KEY}' }), '$.auth.api_key'],
        [withAuth({ auth_type: 'basic', username: 'me', password: 'sk-live-123456' }), '$.auth.password'],
        [
          withAuth({ auth_type: 'oauth2', token_url: 'https://a.test/t', client_id: 'c', client_secret: 'sk-live-123456' }),
          '$.auth.client_secret',
        ],
        [{ ...MINIMAL.file, auth_tools: { auth_type: 'api_key', api_key: 'sk-live-123456' } }, '$.auth_tools.api_key'],
      ] as const;
      for (const [template, path] of leaks) {
        const found = problems(template);
        expect(found).toEqual([{ path, message: expect.stringContaining('must reference a variable') }]);
        expect(JSON.stringify(found)).not.toContain('sk-live');
      }
    });
  });

  it('reports every problem at once, under the path it is given', () => {
    const found = problems(
      {
        call_template_type: 'http',
        url: 'gopher://x',
        http_method: 'get',
        headers: { 'X-A': 1 },
        auth: { auth_type: 'api_key', api_key: 'inline' },
        extra: true,
      },
      '$.tools[3].tool_call_template',
    );
    expect(found.map((p) => p.path)).toEqual([
      '$.tools[3].tool_call_template.http_method',
      '$.tools[3].tool_call_template.url',
      '$.tools[3].tool_call_template.auth.api_key',
      '$.tools[3].tool_call_template.headers.X-A',
      '$.tools[3].tool_call_template.extra',
    ]);
  });
});
