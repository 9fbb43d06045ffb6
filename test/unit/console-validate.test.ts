import { describe, expect, it } from 'vitest';
import { validate } from '../../console/src/validate.js';

// The console's browser-side check of Try-it arguments (the registry checks again with Ajv).
describe('the console argument check', () => {
  const schema = {
    type: 'object',
    properties: {
      city: { type: 'string', minLength: 2, pattern: '^[A-Z]' },
      days: { type: 'integer', minimum: 1, maximum: 14 },
      units: { enum: ['metric', 'imperial'] },
      tags: { type: 'array', items: { type: 'string' }, maxItems: 2 },
      where: { $ref: '#/$defs/point' },
    },
    required: ['city'],
    additionalProperties: false,
    $defs: { point: { type: 'object', required: ['lat'], properties: { lat: { type: 'number' } } } },
  };

  it('accepts arguments that match', () => {
    expect(validate(schema, { city: 'Oslo', days: 3, units: 'metric', tags: ['a'], where: { lat: 59.9 } })).toEqual([]);
    expect(validate({ type: 'number' }, 2)).toEqual([]);
    expect(validate(undefined, { anything: true })).toEqual([]);
  });

  it('names every problem by its JSON path', () => {
    const problems = validate(schema, { days: 1.5, units: 'kelvin', tags: ['a', 1, 'c'], extra: true, where: {} });
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: '/city', message: 'is required' },
        { path: '/days', message: 'must be integer' },
        { path: '/units', message: expect.stringMatching(/enum|match/i) },
        { path: '/tags', message: expect.stringMatching(/2/) },
        { path: '/tags/1', message: 'must be string' },
        { path: '/extra', message: 'is not an allowed field' },
        { path: '/where/lat', message: 'is required' },
      ]),
    );
    expect(problems.map((p) => p.path)).not.toContain('/');
    expect(validate(schema, { city: 'o' }).map((p) => p.path)).toEqual(['/city', '/city']);
    expect(validate(schema, 'Oslo')).toEqual([{ path: '/', message: 'must be object' }]);
  });
});
