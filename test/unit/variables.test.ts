import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MissingVariableError, namespacedVariable, requiredVariables, substituteVariables } from '../../src/utcp/variables.js';

const PETSTORE = readFileSync(new URL('../fixtures/openapi/petstore-expanded.yaml', import.meta.url), 'utf8');

describe('UTCP variables', () => {
  it('are namespaced per manual as the reference substitutor does', () => {
    expect(namespacedVariable('web_scraper', 'api_key')).toBe('web__scraper_api_key');
    expect(namespacedVariable('weather', 'KEY')).toBe('weather_KEY');
    expect(() => namespacedVariable('bad-name', 'KEY')).toThrow(/letters, digits/);
  });

  it('are found in both syntaxes, deep in a template, once each', () => {
    const template = { url: 'https://${HOST}/v1', headers: { key: '$API_KEY', again: '${API_KEY}' }, list: ['$HOST'] };
    expect(requiredVariables(template, 'my_api')).toEqual(['my__api_HOST', 'my__api_API_KEY']);
  });

  it('are substituted only from the lookup it is given, never from the process environment', () => {
    process.env.weather_LEAK = 'from-the-environment';
    const values = new Map([['weather_HOST', 'api.example.com']]);
    const template = { url: 'https://${HOST}/x?y=1', port: 443 };
    expect(substituteVariables(template, 'weather', (name) => values.get(name))).toEqual({ url: 'https://api.example.com/x?y=1', port: 443 });
    expect(() => substituteVariables({ key: '$LEAK' }, 'weather', (name) => values.get(name))).toThrow(MissingVariableError);
    try {
      substituteVariables({ key: '${MISSING}' }, 'weather', () => undefined);
    } catch (error) {
      expect((error as MissingVariableError).extensions).toMatchObject({ code: 'VARIABLE_MISSING', variable: 'MISSING', namespaced: 'weather_MISSING' });
    }
    delete process.env.weather_LEAK;
  });

  it('are not looked for in the inline document of a text template: its $refs are JSON references', () => {
    expect(PETSTORE).toContain('$ref');
    const template = { call_template_type: 'text', content: PETSTORE, auth: { auth_type: 'api_key', api_key: '${TOKEN}' } };
    expect(requiredVariables(template, 'petstore')).toEqual(['petstore_TOKEN']);
    expect(substituteVariables(template, 'petstore', (name) => (name === 'petstore_TOKEN' ? 't' : undefined))).toEqual({ ...template, auth: { ...template.auth, api_key: 't' } });
  });

  it('leave the CLI’s $CMD_<i>_OUTPUT references out of what a template needs', () => {
    expect(requiredVariables({ call_template_type: 'cli', commands: [{ command: 'a $CMD_0_OUTPUT $NAME' }] }, 'tool')).toEqual(['tool_NAME']);
  });
});
