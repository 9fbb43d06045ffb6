import { readdirSync, readFileSync } from 'node:fs';
import { type DefinitionNode, Kind, parse, print } from 'graphql';

const DIR = new URL('../operations/', import.meta.url);

/** Every named operation of test/operations/*.graphql (typed by `npm run codegen`). */
const operations = new Map<string, string>();
for (const file of readdirSync(DIR).filter((f) => f.endsWith('.graphql'))) {
  const document = parse(readFileSync(new URL(file, DIR), 'utf8'));
  const fragments = document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION && definition.name) {
      const definitions: DefinitionNode[] = [definition, ...fragments];
      operations.set(definition.name.value, print({ kind: Kind.DOCUMENT, definitions }));
    }
  }
}

/** The text of the named operation; throws for an unknown name. */
export function operation(name: string): string {
  const text = operations.get(name);
  if (!text) throw new Error(`No operation named ${name} in test/operations`);
  return text;
}
