import { describe, expect, it } from 'vitest';
import { ManualValidationError } from '../../src/errors.js';
import { parseManual } from '../../src/utcp/manual.schema.js';
import { manual, manualTool } from '../helpers/factories.js';

function problems(input: unknown) {
  try {
    parseManual(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ManualValidationError);
    return (error as ManualValidationError).problems;
  }
  throw new Error('expected the manual to be refused');
}

describe('parseManual', () => {
  it('fills UTCP defaults for optional tool fields', () => {
    const parsed = parseManual(manual([{ name: 'ping', tool_call_template: { call_template_type: 'http', url: 'https://x.test' } }]));
    expect(parsed.tools[0]).toMatchObject({
      description: '',
      tags: [],
      inputs: { type: 'object', properties: {} },
      tool_call_template: { http_method: 'GET' },
    });
  });

  it('keeps fields of the call template it does not check itself', () => {
    const parsed = parseManual(
      manual([manualTool({ tool_call_template: { call_template_type: 'http', url: 'https://x.test', headers: { A: 'b' } } })]),
    );
    expect(parsed.tools[0]!.tool_call_template).toMatchObject({ headers: { A: 'b' } });
  });

  it('names the JSON path and expectation of every problem', () => {
    const found = problems({
      utcp_version: '2.0',
      tools: [
        manualTool({ name: 'has space' }),
        manualTool({ tool_call_template: { call_template_type: 'carrier_pigeon' } }),
        manualTool({ tool_call_template: { call_template_type: 'cli', commands: [] } }),
      ],
    });
    const paths = found.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        '$.utcp_version',
        '$.tools[0].name',
        '$.tools[1].tool_call_template.call_template_type',
        '$.tools[2].tool_call_template.commands',
      ]),
    );
  });

  it('refuses anything that is not a manual object', () => {
    expect(problems(null)[0]!.path).toBe('$');
    expect(problems([])[0]!.path).toBe('$');
    expect(problems({ utcp_version: '1.1.0' })[0]!.path).toBe('$.tools');
  });

  it('accepts variable references in auth blocks but no literal secrets', () => {
    const auth = (value: string) =>
      manual([
        manualTool({
          tool_call_template: { call_template_type: 'http', url: 'https://x.test', auth: { auth_type: 'basic', username: 'me', password: value } },
        }),
      ]);
    expect(() => parseManual(auth('${PASSWORD}'))).not.toThrow();
    expect(() => parseManual(auth('$PASSWORD'))).not.toThrow();
    expect(problems(auth('hunter2'))[0]!.path).toBe('$.tools[0].tool_call_template.auth.password');
  });
});
