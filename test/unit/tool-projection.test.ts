import { type FieldNode, type FragmentDefinitionNode, Kind, type OperationDefinitionNode, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { EVERY_COLUMN, projectionOf } from '../../src/modules/tool/tool.projection.js';

/** The resolve info of the first root field of `source` (its node and the document's fragments). */
function infoOf(source: string) {
  const document = parse(source);
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  const fragments = Object.fromEntries(
    document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
  );
  return { fieldNodes: [operation.selectionSet.selections[0] as FieldNode], fragments };
}

const sorted = (set: ReadonlySet<string> | null) => (set ? [...set].sort() : null);

describe('projectionOf: what a tool listing reads of its rows', () => {
  it('reads the properties the selected fields read, plus the id, the name and the provider reference', () => {
    const projection = projectionOf(infoOf('{ tools { totalCount edges { cursor node { description callTemplateType quarantined } } pageInfo { endCursor } } }'));
    expect(sorted(projection.tool)).toEqual(['callTemplateType', 'description', 'id', 'name', 'provider', 'status']);
    expect(sorted(projection.provider)).toEqual(['id']);
  });

  it('follows named and inline fragments, aliases and fields of several selections of one field; skipped fields are read too', () => {
    const projection = projectionOf(
      infoOf(`{ tools { edges { node { ...T } } edges { node { also: tags provider { status } } } } }
        fragment T on Tool { ... on Tool { inputs provider { name } } outputs @skip(if: true) ...T2 } fragment T2 on Tool { version ...T }`),
    );
    expect(sorted(projection.tool)).toEqual(['id', 'inputs', 'name', 'outputs', 'provider', 'tags', 'version']);
    expect(sorted(projection.provider)).toEqual(['id', 'name', 'status']);
  });

  it('reads every column for a field it does not know, of the tool or only of the provider', () => {
    expect(projectionOf(infoOf('{ tools { edges { node { name somethingNew } } } }'))).toBe(EVERY_COLUMN);
    const provider = projectionOf(infoOf('{ tools { edges { node { name provider { name credential { hint } } } } } }'));
    expect(sorted(provider.tool)).toEqual(['id', 'name', 'provider']);
    expect(provider.provider).toBeNull();
    // Names of Object.prototype are not fields it knows.
    expect(projectionOf(infoOf('{ tools { edges { node { constructor } } } }'))).toBe(EVERY_COLUMN);
  });
});
