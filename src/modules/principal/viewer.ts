/** The authenticated caller of a request, as the services see it. */
export interface Viewer {
  principalId: string;
  scopes: ReadonlySet<string>;
  /** The principal's roles, as policies' subjects name them. */
  roles: readonly string[];
  isAdmin: boolean;
  /** Query-cost points per hour; null for the registry's default. */
  costBudgetPerHour: number | null;
}
