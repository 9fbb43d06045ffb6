import { Migration } from '@mikro-orm/migrations';

/** Words of a tool's name (camelCase and `._-` split), tags and description: letters only, 3 to 40 of them, lowercased. */
const WORDS_FN = `create or replace function "tool_search_words"("name" text, "tags" text[], "description" text) returns text[] language sql immutable parallel safe as \$\$
  select coalesce(array_agg(distinct w), '{}') from regexp_split_to_table(lower(tool_name_words("name") || ' ' || array_to_string("tags", ' ') || ' ' || coalesce("description", '')), '[^[:alpha:]]+') w
  where length(w) between 3 and 40 \$\$;`;

/**
 * Adds the words of `rows` (a transition table of tools) that are new to `search_word`: words of
 * tools that are not removed, and not stop words (the full text never finds those). There is no
 * unique index on the word, so concurrent writers never wait on each other here; a word two of
 * them add at once is stored twice, which the search does not mind.
 */
const ADD = (rows: string, changed: string) => `insert into "search_word" ("word")
    select w from (select distinct unnest(tool_search_words(n."name", n."tags", n."description")) w from ${rows} n where n."status" <> 'removed'${changed}) x
    where to_tsvector('english', x.w) <> ''::tsvector and not exists (select 1 from "search_word" s where s."word" = x.w);`;

/**
 * Removes the stored words of `rows` (old versions of tools) that no tool in the catalog (not
 * removed) still has; `kept` lists words the statement's new versions still have, which need no check.
 */
const REMOVE = (rows: string, changed: string, kept = '') => `delete from "search_word" s using
    (select unnest(tool_search_words(o."name", o."tags", o."description")) w from ${rows} o where true${changed}${kept}) x
    where s."word" = x.w and not exists (select 1 from "tool" t where t."search_vector" @@ plainto_tsquery('english', x.w) and t."status" <> 'removed');`;

/** The words the new versions of an update statement's tools have (a removed tool has none). */
const KEPT = ` except select unnest(tool_search_words(n."name", n."tags", n."description")) from new_tools n where n."status" <> 'removed'`;

/** An updated tool whose words, or whether it is searched at all, changed. */
const CHANGED = ` and exists (select 1 from old_tools o2 join new_tools n2 on n2."id" = o2."id" where n2."id" = %s."id"
    and (o2."name", o2."tags", o2."description", o2."status" = 'removed') is distinct from (n2."name", n2."tags", n2."description", n2."status" = 'removed'))`;

/**
 * The catalog's distinct words (`search_word`), the typo correction's dictionary: a search word
 * that no tool has is replaced by the most similar stored words (pg_trgm `%` on a trigram index of
 * this small table), instead of comparing the search with the name of every tool. Statement-level
 * triggers with transition tables keep it current in the writing transaction: one insert per
 * statement of new words, one delete per statement of words whose last tool was deleted, removed
 * or reworded. Filled from the existing catalog.
 */
export class Migration20261207120000_search_words extends Migration {

  override name = 'Migration20261207120000_search_words';

  override up(): void | Promise<void> {
    this.addSql(WORDS_FN);
    this.addSql(`create table "search_word" ("word" text not null);`);
    this.addSql(`create index "search_word_word_index" on "search_word" ("word");`);
    this.addSql(`create index "search_word_trgm_index" on "search_word" using gin ("word" gin_trgm_ops);`);
    this.addSql(`create or replace function "tool_search_words_insert_fn"() returns trigger as \$\$ begin
    ${ADD('new_tools', '')}
    return null; end; \$\$ language plpgsql;`);
    this.addSql(`create or replace function "tool_search_words_update_fn"() returns trigger as \$\$ begin
    ${REMOVE('old_tools', CHANGED.replace('%s', 'o'), KEPT)}
    ${ADD('new_tools', CHANGED.replace('%s', 'n'))}
    return null; end; \$\$ language plpgsql;`);
    this.addSql(`create or replace function "tool_search_words_delete_fn"() returns trigger as \$\$ begin
    ${REMOVE('old_tools', '')}
    return null; end; \$\$ language plpgsql;`);
    this.addSql(`create trigger "tool_search_words_insert" after insert on "tool" referencing new table as new_tools for each statement execute function "tool_search_words_insert_fn"();`);
    this.addSql(`create trigger "tool_search_words_update" after update on "tool" referencing old table as old_tools new table as new_tools for each statement execute function "tool_search_words_update_fn"();`);
    this.addSql(`create trigger "tool_search_words_delete" after delete on "tool" referencing old table as old_tools for each statement execute function "tool_search_words_delete_fn"();`);
    this.addSql(`insert into "search_word" ("word") select w from (select distinct unnest(tool_search_words("name", "tags", "description")) w from "tool" where "status" <> 'removed') x where to_tsvector('english', x.w) <> ''::tsvector;`);
    this.addSql(`analyze "search_word";`);
    // Nothing compares the search with every tool's name any more; the index would only cost every tool write.
    this.addSql(`drop index if exists "tool_name_words_trgm_index";`);
  }

  override down(): void | Promise<void> {
    this.addSql(`create index if not exists "tool_name_words_trgm_index" on "tool" using gin (tool_name_words("name") gin_trgm_ops);`);
    this.addSql(`drop trigger if exists "tool_search_words_insert" on "tool";`);
    this.addSql(`drop trigger if exists "tool_search_words_update" on "tool";`);
    this.addSql(`drop trigger if exists "tool_search_words_delete" on "tool";`);
    this.addSql(`drop function if exists "tool_search_words_insert_fn"();`);
    this.addSql(`drop function if exists "tool_search_words_update_fn"();`);
    this.addSql(`drop function if exists "tool_search_words_delete_fn"();`);
    this.addSql(`drop table if exists "search_word";`);
    this.addSql(`drop function if exists "tool_search_words"(text, text[], text);`);
  }

}
