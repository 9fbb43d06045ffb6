import { mkdir, writeFile } from 'node:fs/promises';
import 'reflect-metadata';
import { buildRegistrySchema, printRegistrySchema } from './schema.js';

/** `npm run schema`: writes the subgraph SDL to `schema/schema.graphql`. */
const { unguarded } = await buildRegistrySchema();
await mkdir('schema', { recursive: true });
await writeFile('schema/schema.graphql', printRegistrySchema(unguarded));
process.stdout.write('Wrote schema/schema.graphql\n');
