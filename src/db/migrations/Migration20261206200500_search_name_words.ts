import { Migration } from '@mikro-orm/migrations';

const SEARCH_VECTOR = (row: string) => `setweight(to_tsvector('english', tool_name_words(${row}name)), 'A') ||
    setweight(to_tsvector('english', array_to_string(${row}tags, ' ')), 'A') ||
    setweight(to_tsvector('english', coalesce(${row}description, '')), 'B')`;

/**
 * Search as top-K: a tool's name is searched as its words, camelCase split too (`jira.createIssue` →
 * `jira create Issue`), through one immutable function that the search-vector trigger, the ranking and
 * a trigram index on the name's words (the typo fallback's candidates) share. Existing search vectors
 * are recomputed.
 */
export class Migration20261206200500_search_name_words extends Migration {

  override name = 'Migration20261206200500_search_name_words';

  override up(): void | Promise<void> {
    this.addSql(`create or replace function "tool_name_words"("name" text) returns text language sql immutable parallel safe as \$\$ select regexp_replace(regexp_replace("name", '([a-z0-9])([A-Z])', '\\1 \\2', 'g'), '[._-]+', ' ', 'g') \$\$;`);
    this.addSql(`create or replace function "tool_tool_search_vector_fn"() returns trigger as \$\$ begin new.search_vector :=
    ${SEARCH_VECTOR('new.')};   return new; end; \$\$ language plpgsql;`);
    this.addSql(`update "tool" set "search_vector" = ${SEARCH_VECTOR('')};`);
    // The update queued every row in the full-text index's pending list, which each search would scan.
    this.addSql(`select gin_clean_pending_list('tool_search_vector_index');`);
    this.addSql(`create index "tool_name_words_trgm_index" on "tool" using gin (tool_name_words("name") gin_trgm_ops);`);
    // The fallback matches the name's words; nothing matches trigrams of the raw name any more, and the
    // index would only cost every tool write.
    this.addSql(`drop index if exists "tool_name_trgm_index";`);
    // Fresh statistics after the update, and for the trigram index's expression.
    this.addSql(`analyze "tool";`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "tool_name_words_trgm_index";`);
    this.addSql(`create index if not exists "tool_name_trgm_index" on "tool" using gin ("name" gin_trgm_ops);`);
    this.addSql(`create or replace function "tool_tool_search_vector_fn"() returns trigger as \$\$ begin new.search_vector :=
    setweight(to_tsvector('english', regexp_replace(new.name, '[._-]+', ' ', 'g')), 'A') ||
    setweight(to_tsvector('english', array_to_string(new.tags, ' ')), 'A') ||
    setweight(to_tsvector('english', coalesce(new.description, '')), 'B');   return new; end; \$\$ language plpgsql;`);
    this.addSql(`update "tool" set "search_vector" = setweight(to_tsvector('english', regexp_replace(name, '[._-]+', ' ', 'g')), 'A') ||
    setweight(to_tsvector('english', array_to_string(tags, ' ')), 'A') ||
    setweight(to_tsvector('english', coalesce(description, '')), 'B');`);
    this.addSql(`drop function if exists "tool_name_words"(text);`);
  }

}
