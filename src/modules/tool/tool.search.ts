import { decodeCursor, encodeCursor } from '../../common/pagination.js';

/**
 * Tools ranked per stage at most, whatever the catalog's size: a search ranks at most this many
 * full-text matches, or this many fallback matches. They are the first matches in storage order
 * (bitmap scans of the full-text index and sequential scans both read the table from its first
 * block: the connections turn `synchronize_seqscans` off), so every page of one search sees the same
 * set, and no scan reads more than it keeps whatever the planner guessed of the matches.
 */
export const SEARCH_CANDIDATES = 200;

/** Below this many full-text matches, the search corrects words the catalog lacks, or else falls back to matching any word. */
export const SEARCH_FALLBACK_BELOW = 10;

/** Catalog words tried for a search word that no tool has: the most similar one. */
export const SEARCH_ALTERNATIVES = 1;

/** The most similar dictionary words checked, per misspelt word, for a tool the caller may find. */
const ALTERNATIVES_CHECKED = 5;

/** Tools read in table order to find a common word before the full-text index is asked (see `found` below). */
const KNOWN_WORD_PROBE = 64;

/** Cursor kind of ranked search pages: `[rank, name]`. */
const CURSOR_KIND = 'tools.search';

// ts_rank weights {D, C, B, A}: name and tags (A) weigh more than the description (B). Normalisation
// 1 divides by 1 + log(length), so `create issue` ranks createIssue above createIssueTypeScreenScheme;
// 32 maps the score into [0, 1), so the stages' ranges below do not overlap.
const WEIGHTS = `'{0.1, 0.2, 0.4, 1.0}'`;
const NORMALISATION = 1 | 32;
// What a tool's rank reads of it, stored with the tool (generated columns, Migration20261207160000_search_rank_columns)
// rather than computed for each of a search's candidates, which cost about half of a search at 100,000 tools:
/** The name as words: `jira.createIssue` → `jira create Issue` (`tool_name_words`, which the search-vector trigger uses too). */
const NAME_WORDS = `t.name_words`;
/** Those words as a text-search vector. */
const NAME_VECTOR = `t.name_vector`;
/** The lexemes of the tool's own name, without its provider's: `jira.createIssue` → {creat, issu}. */
const OWN_NAME_LEXEMES = `t.own_name_lexemes`;
/** The tags as a text-search vector. */
const TAGS_VECTOR = `t.tags_vector`;

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
 * A search with its misspelt words corrected: each word of the search (letters and digits, lower
 * case) with the catalog's words most similar to it, when no tool has the word itself.
 */
export interface SearchCorrection {
  words: { word: string; alternatives: string[] }[];
}

/** The words of a search as the full text and the correction see them: runs of letters and digits, lower case. */
function searchWords(search: string): string[] {
  return [...new Set((search.match(/[\p{L}\p{N}]+/gu) ?? []).map((w) => w.toLowerCase()))];
}

/**
 * The candidates of a search and their rank, as CTEs ending in `ranked (id, name, rank)`. Bounded candidate
 * sets are taken from indexes first, then only those are ranked:
 * 1. Full text (every word, websearch syntax, GIN index on `search_vector`): up to
 *    {@link SEARCH_CANDIDATES} tools whose name, tags or description have the words; rank in [1, 2).
 *    With a `correction`, every word may also be its alternative.
 * 2. Only when stage 1 found fewer than {@link SEARCH_FALLBACK_BELOW}: without a correction, the CTE
 *    `fixes (word, alternatives)` looks up the search's words that the catalog's dictionary
 *    (`search_word`) lacks, with the {@link SEARCH_ALTERNATIVES} most similar words of it (pg_trgm `%`
 *    on the dictionary's trigram index), both as far as tools the caller may find have them (the
 *    dictionary holds every tool's words); when some have alternatives, the caller searches again with
 *    that correction. Otherwise: up to SEARCH_CANDIDATES tools with any of the words (or their
 *    alternatives), an equal share per word; rank in [0, 1), so they follow stage 1.
 */
function rankedCandidates(search: string, conditions: SearchConditions, correction?: SearchCorrection): SearchStatement {
  const where = conditions.where.length ? ` and ${conditions.where.map((c) => `(${c})`).join(' and ')}` : '';
  const params: unknown[] = [];
  const filtered = () => {
    params.push(...conditions.params);
    return where;
  };
  const words = correction ? correction.words.map((w) => w.word) : searchWords(search);
  // Every word with its alternatives; the ranking's terms count any of them as the word.
  const variants = correction ? correction.words.map((w) => [w.word, ...w.alternatives]) : words.map((w) => [w]);
  const rankText = correction ? variants.flat().join(' ') : search;
  // Every query is written out where it is used, a constant the planner folds (a literal regconfig):
  // it then estimates how many tools match, and reads the table in order until it has the candidates
  // when they are many, or takes them from the index when they are few. That is why a correction is
  // a second statement: its words are constants again. Only letters and digits reach to_tsquery.
  const allWords = () => {
    if (correction) {
      params.push(variants.map((v) => `(${v.join(' | ')})`).join(' & '));
      return `to_tsquery('english'::regconfig, ?)`;
    }
    params.push(search);
    return `websearch_to_tsquery('english'::regconfig, ?)`;
  };
  // Any of the words (and their alternatives), for the fallback.
  const anyWord = () => {
    params.push(variants.flat().join(' | '));
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
  //   getResolutions, `my filters` getMyFilters although `my` is a stop word; `wether` prefers
  //   weather over whether among its alternatives).
  const share = (lexemes: string) => {
    params.push(rankText);
    return (
      `coalesce((select count(*) filter (where w = any(tsvector_to_array(to_tsvector('english'::regconfig, ?))))::float8 / nullif(count(*), 0)` +
      ` from unnest(${lexemes}) w), 0)`
    );
  };
  const strictRank = () =>
    `(1 + ${W.allInName} * (${NAME_VECTOR} @@ ${allWords()})::int + ${W.name} * ${share(OWN_NAME_LEXEMES)} + ${W.description} * ${share(`tsvector_to_array(ts_filter(t.search_vector, '{b}'))`)}` +
    ` + ${W.tags} * (${TAGS_VECTOR} @@ ${allWords()})::int` +
    ` + ${W.tsRank} * ts_rank(${WEIGHTS}, t.search_vector, ${allWords()}, ${NORMALISATION}) + ${W.closeness} * ${closeness()})::float8`;
  const sql: string[] = [];
  sql.push(
    `with by_text as materialized (select t.id, t.name, ${strictRank()} as rank from tool t where t.search_vector @@ ${allWords()}${filtered()}` +
      ` limit ${SEARCH_CANDIDATES}),`,
  );
  sql.push(`matched as materialized (select id, name, rank from by_text),`);
  // The fallback runs only when stage 1 found too few (a one-time filter: no scan otherwise).
  const fallback = `(select count(*) from matched) < ${SEARCH_FALLBACK_BELOW}`;
  // Words shorter than three letters are not corrected (their trigrams say little).
  const unknown = correction ? [] : words.filter((w) => w.length >= 3);
  let corrected = '';
  if (unknown.length > 0) {
    // The dictionary holds the words of every tool; a word counts as known, and an alternative as
    // one, only when a tool the caller may find (`conditions`) has it, so neither the corrections
    // nor their absence tell anything about tools hidden from the caller.
    //
    // A common word is found among the first few tools the caller may find, in table order: a probe
    // of {@link KNOWN_WORD_PROBE} rows. Only a word it misses is looked up in the full-text index,
    // whose bitmap of every tool with the word takes milliseconds to build for a common word at
    // 100,000 tools, and little for a rare one. (The word is not written out as a constant here: with
    // a constant, the planner takes a word it has no statistics for as fairly common, and may then
    // look for its first tool by reading the whole table.)
    const found = (word: string) =>
      `(exists (select 1 from (select t.search_vector from tool t where true${filtered()} limit ${KNOWN_WORD_PROBE}) probe` +
      ` where probe.search_vector @@ plainto_tsquery('english'::regconfig, ${word}))` +
      ` or exists (select 1 from tool t where t.search_vector @@ plainto_tsquery('english'::regconfig, ${word})${filtered()}))`;
    const alternatives =
      `array(select c.word from (select s.word, max(similarity(s.word, u.w)) as closeness from search_word s where s.word % u.w group by s.word` +
      ` order by closeness desc, s.word limit ${ALTERNATIVES_CHECKED}) c where ${found('c.word')} order by c.closeness desc, c.word limit ?)`;
    params.push(SEARCH_ALTERNATIVES, unknown);
    sql.push(`fixes as materialized (select u.w as word, ${alternatives} as alternatives from unnest(array[?]::text[]) u(w) where ${fallback} and not ${found('u.w')}),`);
    // …with the page, which is then searched again with the correction.
    corrected = ` and not exists (select 1 from fixes where cardinality(alternatives) > 0)`;
  }
  if (words.length > 0) {
    // Up to an equal share of the candidates per word (or its alternatives), each from an index scan
    // of its own, so a rare word's tools are not crowded out by a common word's. They rank by the
    // words a tool has and how close the search is to its name, in [0, 1).
    const perWord = Math.ceil(SEARCH_CANDIDATES / variants.length);
    const scans = variants.map((variant) => {
      params.push(variant.join(' | '));
      const scan = `(select t.id from tool t where ${fallback}${corrected} and t.search_vector @@ to_tsquery('english'::regconfig, ?)${filtered()} limit ${perWord})`;
      return scan;
    });
    sql.push(`any_ids as materialized (${scans.join(' union ')}),`);
    sql.push(
      `any_word as materialized (select t.id, t.name, (0.5 * ts_rank(${WEIGHTS}, t.search_vector, ${anyWord()}, ${NORMALISATION}) + 0.5 * ${closeness()})::float8 as rank` +
        ` from any_ids a join tool t on t.id = a.id),`,
    );
  } else {
    sql.push(`any_word as (select null::uuid as id, null::text as name, null::float8 as rank where false),`);
  }
  sql.push(`ranked as (select id, name, rank from matched union all select id, name, rank from any_word where id not in (select id from matched))`);
  return { sql: sql.join(' '), params };
}

/**
 * The one statement of a ranked catalog search page (top-K, see {@link rankedCandidates}): `limit`
 * rows ordered by rank, then name, after the cursor `after` (of {@link searchCursor}) when given.
 * `conditions` are what every candidate must meet (filters, visibility); `columns` the selected tool
 * and provider columns (as `t."column"`, `p."column"`: each tool's provider is joined); each row also
 * carries its `rank`. Without a `correction`, the rows also carry `fixes` (see {@link correctionOf}),
 * and there is one row with no tool (a null `rank`) when the page is empty.
 * Throws INVALID_CURSOR for a cursor of another listing.
 */
export function searchStatement(
  search: string,
  conditions: SearchConditions,
  columns: string,
  limit: number,
  after?: string | null,
  correction?: SearchCorrection,
): SearchStatement {
  const { sql, params } = rankedCandidates(search, conditions, correction);
  let keyset = '';
  if (after) {
    const [afterRank, afterName] = decodeCursor<[number, string]>(CURSOR_KIND, after, ['number', 'string']);
    keyset = ` where (r.rank < ? or (r.rank = ? and r.name > ?))`;
    params.push(afterRank, afterRank, afterName);
  }
  params.push(limit);
  // Only the page's rows are read in full.
  const page =
    `(select r.id, r.name, r.rank from ranked r${keyset} order by r.rank desc, r.name asc limit ?) page` +
    ` join tool t on t.id = page.id join provider p on p.id = t.provider_id`;
  if (!sql.includes(' fixes as ')) {
    return { sql: `${sql} select ${columns}, page.rank as "rank" from ${page} order by page.rank desc, page.name asc`, params };
  }
  // The corrections come with the page (or alone, when it is empty).
  return {
    sql:
      `${sql} select ${columns}, page.rank as "rank", f.fixes as "fixes" from (select (select json_agg(json_build_object('word', word, 'alternatives', alternatives))` +
      ` from fixes where cardinality(alternatives) > 0) as fixes) f left join (${page}) on true order by page.rank desc, page.name asc`,
    params,
  };
}

/**
 * The correction a search page's rows ask for (their `fixes`: the search's words that no tool has,
 * with similar words of the catalog), or undefined when the page stands as it is.
 */
export function correctionOf(search: string, rows: readonly Record<string, unknown>[]): SearchCorrection | undefined {
  const raw = rows[0]?.fixes;
  const fixes = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { word: string; alternatives: string[] }[] | null | undefined;
  if (!fixes?.length) return undefined;
  const alternatives = new Map(fixes.map((f) => [f.word, f.alternatives]));
  return { words: searchWords(search).map((word) => ({ word, alternatives: alternatives.get(word) ?? [] })) };
}

/** Counts the candidates of a search: every row that its pages together show. */
export function searchCountStatement(search: string, conditions: SearchConditions, correction?: SearchCorrection): SearchStatement {
  const { sql, params } = rankedCandidates(search, conditions, correction);
  return { sql: `${sql} select count(*)::int as count from ranked`, params };
}

/** The cursor of a ranked search row. */
export function searchCursor(rank: number, name: string): string {
  return encodeCursor(CURSOR_KIND, [rank, name]);
}
