/** Runs one SQL statement with `$n` parameters (pg and PGlite alike). */
export type Execute = (sql: string, params?: unknown[]) => Promise<unknown>;

/** Tools per generated provider. */
export const TOOLS_PER_PROVIDER = 50;

const VERBS = ['get', 'list', 'search', 'create', 'update', 'delete', 'send', 'fetch', 'convert', 'translate',
  'analyze', 'summarize', 'schedule', 'render', 'validate', 'export', 'import', 'sync', 'resolve', 'compute'];
const NOUNS = ['weather', 'forecast', 'invoice', 'customer', 'ticket', 'issue', 'repository', 'calendar', 'event', 'email',
  'message', 'document', 'spreadsheet', 'image', 'video', 'payment', 'order', 'shipment', 'currency', 'stock',
  'map', 'route', 'user', 'file', 'report', 'metric', 'alert', 'log', 'database', 'contact'];
const QUALIFIERS = ['daily', 'hourly', 'recent', 'open', 'archived', 'public', 'private', 'shared', 'pending', 'active',
  'monthly', 'global', 'local', 'detailed', 'quick'];
const TAGS = ['weather', 'finance', 'devops', 'crm', 'productivity', 'media', 'maps', 'communication', 'storage', 'analytics',
  'security', 'ecommerce', 'travel', 'health', 'education', 'social', 'ai', 'search', 'calendar', 'documents'];

/** Search terms of the search benchmark: broad and narrow words, two words, a typo, a name fragment. */
export const SEARCH_TERMS = ['weather', 'invoice payment', 'forcast', 'summarize report', 'currency', 'get_ticket', 'archived email', 'devops'];

const array = (words: string[]) => `array[${words.map((w) => `'${w}'`).join(',')}]::text[]`;

/**
 * Grows the generated catalog from `from` to `to` tools (indices `from` … `to - 1`) in two bulk
 * statements: providers `bench_p<k>` (50 tools each), then tools named `bench_p<k>.<verb>_<noun>_<i>`
 * with descriptions, tags, input schemas and http call templates from a fixed vocabulary, each with
 * its approved version. The `tool_search_vector` trigger fills the search vector as the registry's own
 * writes do. Deterministic: the same index always yields the same tool. Ends with VACUUM ANALYZE.
 */
export async function growCatalog(execute: Execute, from: number, to: number): Promise<void> {
  if (to <= from) return;
  await execute(
    `insert into provider (id, name, call_template_type, call_template, status, last_discovered_at)
     select gen_random_uuid(), 'bench_p' || k, 'text',
            jsonb_build_object('call_template_type', 'text', 'name', 'bench_p' || k, 'content', '{}'), 'active', now()
     from generate_series($1::int, $2::int) k
     on conflict (name) do nothing`,
    [Math.floor(from / TOOLS_PER_PROVIDER), Math.floor((to - 1) / TOOLS_PER_PROVIDER)],
  );
  await execute(
    `with v as (select ${array(VERBS)} verbs, ${array(NOUNS)} nouns, ${array(QUALIFIERS)} quals, ${array(TAGS)} tags),
     g as (
       select i, 'bench_p' || (i / ${TOOLS_PER_PROVIDER}) as provider,
              verbs[1 + i % 20] as verb, nouns[1 + (i / 20) % 30] as noun, nouns[1 + (i * 7 + 3) % 30] as noun2,
              nouns[1 + (i * 13 + 5) % 30] as noun3, quals[1 + (i * 11) % 15] as qual, quals[1 + (i * 17 + 1) % 15] as qual2,
              array[tags[1 + i % 20], tags[1 + (i * 7 + 3) % 20]] as tag_list
       from v, generate_series($1::int, $2::int) i
     ),
     t as (
       select g.*, g.provider || '.' || g.verb || '_' || g.noun || '_' || g.i as name,
              initcap(g.verb) || ' ' || g.qual || ' ' || g.noun || ' ' || g.noun2 || ' data for a given ' || g.noun3 ||
                '; returns the ' || g.qual2 || ' result as JSON.' as description
       from g
     ),
     inserted as (
       insert into tool (id, name, provider_id, description, inputs, outputs, tags, average_response_size, call_template,
                         enabled, status, definition_hash, version)
       select gen_random_uuid(), t.name, p.id, t.description,
              jsonb_build_object('type', 'object', 'required', jsonb_build_array(t.noun || '_id'),
                'properties', jsonb_build_object(t.noun || '_id', jsonb_build_object('type', 'string'),
                  'limit', jsonb_build_object('type', 'integer', 'minimum', 1, 'maximum', 100))),
              jsonb_build_object('type', 'object'),
              t.tag_list, 512 + t.i % 4096,
              jsonb_build_object('call_template_type', 'http', 'url', 'https://api.example.com/' || t.noun || '/' || t.verb,
                'http_method', 'GET', 'content_type', 'application/json'),
              true, 'active', encode(sha256(convert_to(t.name || t.description, 'UTF8')), 'hex'), 1
       from t join provider p on p.name = t.provider
       returning id, definition_hash, description, inputs, outputs, tags, average_response_size, call_template
     )
     insert into tool_version (id, tool_id, version, definition_hash, definition, status, decided_at)
     select gen_random_uuid(), id, 1, definition_hash,
            jsonb_build_object('description', description, 'inputs', inputs, 'outputs', outputs, 'tags', to_jsonb(tags),
              'averageResponseSize', average_response_size, 'callTemplate', call_template),
            'approved', now()
     from inserted`,
    [from, to - 1],
  );
  await execute('vacuum analyze tool');
  await execute('vacuum analyze provider');
  await execute('vacuum analyze tool_version');
}
