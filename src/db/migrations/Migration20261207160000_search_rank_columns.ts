import { Migration } from '@mikro-orm/migrations';

/**
 * What a search's rank reads of each candidate tool, stored with the tool as generated columns
 * instead of being computed again for each of up to 200 candidates of every search (about half of a
 * search's time in the database at 100,000 tools): the name's words (`tool_name_words`, as the
 * search-vector trigger indexes them), those words as a text-search vector, the lexemes of the tool's
 * own name (without its provider's) and the tags as a text-search vector. PostgreSQL computes them on
 * every write of the name or tags, so they cannot disagree with the tool; the application never
 * writes them (the entity does not map them, as it does not map `search_word`). The same ranking
 * as before, value for value.
 */
export class Migration20261207160000_search_rank_columns extends Migration {

  override name = 'Migration20261207160000_search_rank_columns';

  override up(): void | Promise<void> {
    // array_to_string is only stable (its element output functions could be); for text[] it is immutable.
    this.addSql(`create or replace function "tool_tags_text"("tags" text[]) returns text language sql immutable parallel safe as \$\$ select array_to_string("tags", ' ') \$\$;`);
    this.addSql(`alter table "tool"
      add column "name_words" text generated always as (tool_name_words("name")) stored,
      add column "name_vector" tsvector generated always as (to_tsvector('english'::regconfig, tool_name_words("name"))) stored,
      add column "own_name_lexemes" text[] generated always as (tsvector_to_array(to_tsvector('english'::regconfig, tool_name_words(substr("name", strpos("name", '.') + 1))))) stored,
      add column "tags_vector" tsvector generated always as (to_tsvector('english'::regconfig, tool_tags_text("tags"))) stored;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "tool" drop column if exists "name_words", drop column if exists "name_vector", drop column if exists "own_name_lexemes", drop column if exists "tags_vector";`);
    this.addSql(`drop function if exists "tool_tags_text"(text[]);`);
  }

}
