/** Scopes a token may carry; each root field of the API requires one (see the rule tree). */
export enum Scope {
  TOOLS_READ = 'tools:read',
  TOOLS_EXECUTE = 'tools:execute',
  PROVIDERS_WRITE = 'providers:write',
  POLICIES_WRITE = 'policies:write',
  AUDIT_READ = 'audit:read',
  /** Scraping `/metrics` on the main port. */
  METRICS_READ = 'metrics:read',
  ADMIN = 'admin',
}

/** Roles are named bundles of scopes. */
export const ROLE_SCOPES: Record<string, readonly Scope[]> = {
  viewer: [Scope.TOOLS_READ],
  agent: [Scope.TOOLS_READ, Scope.TOOLS_EXECUTE],
  publisher: [Scope.TOOLS_READ, Scope.PROVIDERS_WRITE],
  policy_admin: [Scope.TOOLS_READ, Scope.POLICIES_WRITE, Scope.AUDIT_READ],
  admin: Object.values(Scope),
};

export const ROLES = Object.keys(ROLE_SCOPES);
const ALL_SCOPES = new Set<string>(Object.values(Scope));

export function isScope(value: string): value is Scope {
  return ALL_SCOPES.has(value);
}

/** The scopes granted by `roles` plus those granted directly; unknown names grant nothing. */
export function effectiveScopes(roles: readonly string[], scopes: readonly string[]): Scope[] {
  const granted = new Set<Scope>();
  for (const role of roles) for (const scope of ROLE_SCOPES[role] ?? []) granted.add(scope);
  for (const scope of scopes) if (isScope(scope)) granted.add(scope);
  return [...granted].sort();
}
