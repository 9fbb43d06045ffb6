import { readFile } from 'node:fs/promises';
import { generate, loadContext } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';

describe('generated operation types', () => {
  it('match schema/schema.graphql, test/**/*.graphql and console/src/operations (run `npm run codegen`)', { timeout: 60_000 }, async () => {
    const context = await loadContext('codegen.yml');
    const outputs = await generate(context, false);
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs as { filename: string; content: string }[]) {
      expect(await readFile(output.filename, 'utf8'), output.filename).toBe(output.content);
    }
  });
});
