import { RegistryError } from '../errors.js';
import { type UserError } from './user-error.types.js';

/**
 * Runs a mutation's service call: expected failures (coded RegistryErrors other than
 * authorization ones) become `userErrors`; anything else propagates.
 */
export async function withUserErrors<T extends object>(run: () => Promise<T>): Promise<T & { userErrors: UserError[] }> {
  try {
    return { ...(await run()), userErrors: [] };
  } catch (error) {
    if (!(error instanceof RegistryError) || error.code === 'UNAUTHENTICATED' || error.code === 'FORBIDDEN') throw error;
    const field = typeof error.extensions.field === 'string' ? [error.extensions.field] : [];
    return { userErrors: [{ field, message: error.message, code: error.code }] } as unknown as T & { userErrors: UserError[] };
  }
}
