import { readFile, writeFile } from 'node:fs/promises';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { parse as parseYaml } from 'yaml';

/** The subgraphs of `deploy/router/supergraph.yaml` (the Rover config format). */
interface SupergraphConfig {
  subgraphs: Record<string, { routing_url: string; schema: { file: string } }>;
}

/**
 * Composes the subgraphs named in deploy/router/supergraph.yaml into the supergraph SDL the
 * Apollo Router loads. Returns the SDL; throws with every composition error.
 */
export async function composeSupergraph(configPath = 'deploy/router/supergraph.yaml'): Promise<string> {
  const config = parseYaml(await readFile(configPath, 'utf8')) as SupergraphConfig;
  const base = new URL(configPath, `file://${process.cwd()}/`);
  const services = await Promise.all(
    Object.entries(config.subgraphs).map(async ([name, subgraph]) => ({
      name,
      url: subgraph.routing_url,
      typeDefs: parse(await readFile(new URL(subgraph.schema.file, base), 'utf8')),
    })),
  );
  const result = composeServices(services);
  if (result.errors) throw new Error(`Composition failed:\n${result.errors.map((e) => e.message).join('\n')}`);
  return result.supergraphSdl;
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  await writeFile('deploy/router/supergraph.graphql', await composeSupergraph());
  process.stdout.write('Wrote deploy/router/supergraph.graphql\n');
}
