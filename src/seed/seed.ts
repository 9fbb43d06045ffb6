import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { type Logger } from 'pino';
import { type Database } from '../db/database.js';
import { CallTemplateType, ProviderService } from '../modules/provider/index.js';
import { ToolService } from '../modules/tool/index.js';
import currency from './manuals/currency.json' with { type: 'json' };
import shell from './manuals/shell.json' with { type: 'json' };
import weather from './manuals/weather.json' with { type: 'json' };

/** The example manuals shipped with the registry, by provider name. */
export const BUNDLED_MANUALS: { provider: string; manual: unknown }[] = [
  { provider: 'weather', manual: weather },
  { provider: 'currency', manual: currency },
  { provider: 'shell', manual: shell },
];

/**
 * Imports each bundled manual whose provider does not exist yet, so a restart never overwrites
 * what an operator changed, and replicas starting together seed each provider once.
 * Throws if a bundled manual is invalid (a build defect).
 */
export async function seedCatalog(db: Database, logger: Logger): Promise<void> {
  for (const { provider, manual } of BUNDLED_MANUALS) {
    const em = db.fork();
    if (await new ProviderService(em).findByName(provider)) continue;
    try {
      // Inline content: a refresh rediscovers exactly the bundled manual.
      const result = await new ToolService(em).importManual(provider, manual, {
        call_template_type: CallTemplateType.TEXT,
        content: JSON.stringify(manual),
      });
      logger.info({ provider, tools: result.created }, 'seeded example provider');
    } catch (error) {
      // Another replica starting at the same moment seeded this provider first.
      if (error instanceof UniqueConstraintViolationException) continue;
      throw error;
    }
  }
}
