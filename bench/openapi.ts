import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { BenchContext } from './lib/context.ts';
import { graphql, residentMemory } from './lib/registry.ts';

const DOCUMENT = new URL('../test/fixtures/openapi/github-api.json.gz', import.meta.url);
/** How often the registry's resident memory is sampled while it imports. */
const SAMPLE_MS = 20;

export interface OpenApiImportResult {
  documentBytes: number;
  /** Tools the import created, and its warnings. */
  tools: number;
  warnings: number;
  /** Wall time of the `registerProvider` mutation (fetch by URL, conversion, storage), ms. */
  importMs: number;
  /** Resident memory of the registry before, and the highest sampled during the import, MB. */
  rssBeforeMb: number;
  rssPeakMb: number;
  /** Growth of the registry's resident memory while importing (sampled peak − before), MB. */
  rssGrowthMb: number;
}

/**
 * Imports GitHub's api.github.com description (13 MB, 1,223 operations; test/fixtures/openapi) by
 * URL with the registry's default discovery settings, as `provider` (a name no other phase uses):
 * the time of the mutation and the registry's peak resident-memory growth meanwhile (VmRSS of it
 * and its workers, sampled every 20 ms: the true peak may be a little higher).
 */
export async function measureOpenApiImport(ctx: BenchContext, provider = 'bench_github'): Promise<OpenApiImportResult> {
  const document = gunzipSync(readFileSync(DOCUMENT));
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(document));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api.github.com.json`;
    const rssBeforeMb = (await residentMemory(ctx.registry.pid)).rssMb;
    let rssPeakMb = rssBeforeMb;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        rssPeakMb = Math.max(rssPeakMb, (await residentMemory(ctx.registry.pid)).rssMb);
        await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
      }
    })();
    const started = performance.now();
    let registered: { created: string[]; warnings: string[]; userErrors: unknown[] };
    try {
      registered = (
        await graphql<{ registerProvider: typeof registered }>(
          ctx.registry.url,
          ctx.admin.token,
          'mutation R($input: RegisterProviderInput!) { registerProvider(input: $input) { created warnings userErrors { field message code } } }',
          { input: { name: provider, callTemplate: { call_template_type: 'http', url, http_method: 'GET' } } },
        )
      ).registerProvider;
    } finally {
      sampling = false;
    }
    const importMs = performance.now() - started;
    await sampler;
    if (registered.userErrors.length) throw new Error(`registerProvider: ${JSON.stringify(registered.userErrors)}`);
    return {
      documentBytes: document.length,
      tools: registered.created.length,
      warnings: registered.warnings.length,
      importMs,
      rssBeforeMb,
      rssPeakMb,
      rssGrowthMb: rssPeakMb - rssBeforeMb,
    };
  } finally {
    server.close();
  }
}
