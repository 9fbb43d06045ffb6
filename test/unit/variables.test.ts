import { describe, expect, it } from 'vitest';
import { MissingVariableError, namespacedVariable, requiredVariables, substituteVariables } from '../../src/utcp/variables.js';

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
      expect((error as MissingVariableError).extensions).toMatchObject({ code: 'VARIABLE_MISSING', variable: 'weather_MISSING' });
    }
    delete process.env.weather_LEAK;
  });
});
