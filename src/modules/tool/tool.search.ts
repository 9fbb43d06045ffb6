import { decodeCursor, encodeCursor } from '../../common/pagination.js';

/**
 * Tools ranked per stage at most, whatever the catalog's size: a search ranks at most this many
 * full-text matches (the first in name order, so every page of one search sees the same set), or
 * twice this many fallback matches.
 */
export const SEARCH_CANDIDATES = 200;

/** Below this many full-text matches, the search falls back to matching any word, and names by trigram similarity. */
export const SEARCH_FALLBACK_BELOW = 10;

/** Cursor kind of ranked search pages: `[rank, name]`. */
const CURSOR_KIND = 'tools.search';

// ts_rank weights {D, C, B, A}: name and tags (A) weigh more than the description (B). Normalisation
// 1 divides by 1 + log(length), so `create issue` ranks createIssue above createIssueTypeScreenScheme;
// 32 maps the score into [0, 1), so the stages' ranges below do not overlap.
const WEIGHTS = `'{0.1, 0.2, 0.4, 1.0}'`;
const NORMALISATION = 1 | 32;
/** The name as words: `jira.createIssue` → `jira create Issue` (the index and the trigger use the same function). */
const NAME_WORDS = `tool_name_words(t.name)`;
const NAME_VECTOR = `to_tsvector('english'::regconfig, ${NAME_WORDS})`;
/** The words of the tool's own name, without its provider's: `jira.createIssue` → `create Issue`. */
const OWN_NAME_VECTOR = `to_tsvector('english'::regconfig, tool_name_words(substr(t.name, strpos(t.name, '.') + 1)))`;

/**
 * Weights of stage 1's rank terms (they add up to less than 1, so stage 1 stays in [1, 2)). Name
 * coverage outweighs "every word is in the name", or long names that repeat the words would win.
 */
const W = { allInName: 0.05, name: 0.35, description: 0.15, tags: 0.05, tsRank: 0.2, closeness: 0.14 } as const;

/** A search statement (or its CTEs) and its `?` parameters, in order. */
export interface SearchStatement {
  sql: string;
  params: unknown[];
}

/** The conditions every candidate must meet (visibility, filters), on the tool table as `t`. */
export interface SearchConditions {
  where: string[];
  params: unknown[];
}

/**
 * The candidates of a search and their rank, as CTEs ending in `ranked (id, name, rank)`. Bounded candidate
 * sets are taken from indexes first, then only those are ranked:
 * 1. Full text (every word, websearch syntax, GIN index on `search_vector`): up to
 *    {@link SEARCH_CANDIDATES} tools whose name, tags or description have the words, the first in name
 *    order; rank in [1, 2).
 * 2. Only when stage 1 found fewer than {@link SEARCH_FALLBACK_BELOW}: up to SEARCH_CANDIDATES tools
 *    with any of the words, and as many whose name's words are similar to the search (pg_trgm `<%`
 *    on a trigram index of the name's words, for typos); rank in [0, 1), so they follow stage 1.
 */
function rankedCandidates(search: string, conditions: SearchConditions): SearchStatement {
  const where = conditions.where.length ? ` and ${conditions.where.map((c) => `(${c})`).join(' and ')}` : '';
  const params: unknown[] = [];
  const filtered = () => {
    params.push(...conditions.params);
    return where;
  };
  // Every query is written out where it is used, a constant the planner folds (a literal regconfig):
  // it then estimates how many tools match, and walks the name index rather than sorting all matches
  // when they are many.
  const allWords = () => {
    params.push(search);
    return `websearch_to_tsquery('english'::regconfig, ?)`;
  };
  // Any of the words, for the fallback: `|` between them (only letters and digits reach to_tsquery).
  const words = search.match(/[\p{L}\p{N}]+/gu) ?? [];
  const anyWord = () => {
    params.push(words.join(' | '));
    return `to_tsquery('english'::regconfig, ?)`;
  };
  const closeness = () => {
    params.push(search);
    return `word_similarity(?, ${NAME_WORDS})`;
  };
  // Stage 1 ranks by (weights in W, computed only for the candidates):
  // - name coverage: the share of the tool's own name words (after `provider.`) that the search has,
  //   so `list pull requests` ranks pulls_list (2 of 2) above pulls_list_requested_reviewers (3 of 4) or
  //   repos_list_pull_requests_associated_with_commit (3 of 6), which merely repeat the words; among
  //   equals the shorter name has the larger share;
  // - description coverage, the same over the description's words (weight B of the search vector, not
  //   parsed again): an OpenAPI summary "List pull requests" is the operation that does exactly that;
  // - every word in the name (stemmed), every word in the tags (curated keywords outrank a mention in
  //   the description), and how well the words score (ts_rank);
  // - how close the search is to the name's words as typed (trigrams: `resolutions` prefers
  //   getResolutions, `my filters` getMyFilters although `my` is a stop word).
  const share = (lexemes: string) => {
    params.push(search);
    return (
      `coalesce((select count(*) filter (where w = any(tsvector_to_array(to_tsvector('english'::regconfig, ?))))::float8 / nullif(count(*), 0)` +
      ` from unnest(tsvector_to_array(${lexemes})) w), 0)`
    );
  };
  const strictRank = () =>
    `(1 + ${W.allInName} * (${NAME_VECTOR} @@ ${allWords()})::int + ${W.name} * ${share(OWN_NAME_VECTOR)} + ${W.description} * ${share(`ts_filter(t.search_vector, '{b}')`)}` +
    ` + ${W.tags} * (to_tsvector('english'::regconfig, array_to_string(t.tags, ' ')) @@ ${allWords()})::int` +
    ` + ${W.tsRank} * ts_rank(${WEIGHTS}, t.search_vector, ${allWords()}, ${NORMALISATION}) + ${W.closeness} * ${closeness()})::float8`;
  const sql: string[] = [];
  sql.push(
    `with by_text as materialized (select t.id, t.name, ${strictRank()} as rank from tool t where t.search_vector @@ ${allWords()}${filtered()}` +
      ` order by t.name limit ${SEARCH_CANDIDATES}),`,
  );
  sql.push(`matched as materialized (select id, name, rank from by_text),`);
  // The fallback runs only when stage 1 found too few (a one-time filter: no scan otherwise). It ranks
  // by the words a tool has and the same closeness, in [0, 1).
  const fallback = `(select count(*) from matched) < ${SEARCH_FALLBACK_BELOW}`;
  if (words.length > 0) {
    sql.push(
      `any_word as materialized (select t.id, t.name, (0.5 * ts_rank(${WEIGHTS}, t.search_vector, ${anyWord()}, ${NORMALISATION}) + 0.5 * ${closeness()})::float8 as rank` +
        ` from tool t where ${fallback} and t.search_vector @@ ${anyWord()}${filtered()} order by t.name limit ${SEARCH_CANDIDATES}),`,
    );
  } else {
    sql.push(`any_word as (select null::uuid as id, null::text as name, null::float8 as rank where false),`);
  }
  // Trigram matches come in storage order (bitmap scans of the trigram index): ordering them by name
  // would recheck every similar name of a large catalog.
  const anyRank = words.length > 0 ? `0.5 * ts_rank(${WEIGHTS}, t.search_vector, ${anyWord()}, ${NORMALISATION}) + ` : '';
  sql.push(
    `similar_name as materialized (select t.id, t.name, (${anyRank}0.5 * ${closeness()})::float8 as rank` +
      ` from tool t where ${fallback} and ${closenessFilter(params, search)}${filtered()} limit ${SEARCH_CANDIDATES}),`,
  );
  sql.push(
    `ranked as (select id, name, rank from matched union all select id, name, rank from` +
      ` (select id, name, rank from any_word union select id, name, rank from similar_name) f where f.id not in (select id from matched))`,
  );
  return { sql: sql.join(' '), params };
}

/** `<%` (word similarity above pg_trgm's threshold) of the search to the name's words: the trigram index's condition. */
function closenessFilter(params: unknown[], search: string): string {
  params.push(search);
  return `? <% ${NAME_WORDS}`;
}

/**
 * The one statement of a ranked catalog search page (top-K, see {@link rankedCandidates}): `limit`
 * rows ordered by rank, then name, after the cursor `after` (of {@link searchCursor}) when given.
 * `conditions` are what every candidate must meet (filters, visibility); `columns` the selected tool
 * and provider columns (as `t."column"`, `p."column"`: each tool's provider is joined); each row also
 * carries its `rank`.
 * Throws INVALID_CURSOR for a cursor of another listing.
 */
export function searchStatement(
  search: string,
  conditions: SearchConditions,
  columns: string,
  limit: number,
  after?: string | null,
): SearchStatement {
  const { sql, params } = rankedCandidates(search, conditions);
  let keyset = '';
  if (after) {
    const [afterRank, afterName] = decodeCursor<[number, string]>(CURSOR_KIND, after, ['number', 'string']);
    keyset = ` where (r.rank < ? or (r.rank = ? and r.name > ?))`;
    params.push(afterRank, afterRank, afterName);
  }
  params.push(limit);
  // Only the page's rows are read in full.
  return {
    sql:
      `${sql} select ${columns}, page.rank as "rank" from (select r.id, r.name, r.rank from ranked r${keyset}` +
      ` order by r.rank desc, r.name asc limit ?) page join tool t on t.id = page.id join provider p on p.id = t.provider_id` +
      ` order by page.rank desc, page.name asc`,
    params,
  };
}

/** Counts the candidates of a search: every row that its pages together show. */
export function searchCountStatement(search: string, conditions: SearchConditions): SearchStatement {
  const { sql, params } = rankedCandidates(search, conditions);
  return { sql: `${sql} select count(*)::int as count from ranked`, params };
}

/** The cursor of a ranked search row. */
export function searchCursor(rank: number, name: string): string {
  return encodeCursor(CURSOR_KIND, [rank, name]);
}
