import { ErrorCode, RegistryError } from '../errors.js';
import { type UserError } from './user-error.types.js';

/**
 * Runs a mutation's service call: expected failures (coded RegistryErrors other than
 * authorization ones) become `userErrors`, with the payload's other fields absent (null);
 * anything else propagates.
 */
export async function withUserErrors<T extends object>(run: () => Promise<T>): Promise<Partial<T> & { userErrors: UserError[] }> {
  try {
    return { ...(await run()), userErrors: [] };
  } catch (error) {
    if (!(error instanceof RegistryError) || error.code === ErrorCode.UNAUTHENTICATED || error.code === ErrorCode.FORBIDDEN || error.code === ErrorCode.POLICY_DENIED) throw error;
    const field = typeof error.extensions.field === 'string' ? [error.extensions.field] : [];
    const userErrors: UserError[] = [{ field, message: error.message, code: error.code }];
    return { userErrors } as Partial<T> & { userErrors: UserError[] };
  }
}
