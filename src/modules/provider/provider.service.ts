import DataLoader from 'dataloader';
import { type EntityManager } from '@mikro-orm/postgresql';
import { isUuid } from '../../common/ids.js';
import { Scope } from '../../security/scopes.js';
import { type Viewer } from '../principal/viewer.js';
import { decodeCursor, encodeCursor, type Page, pageSize, toPage } from '../../common/pagination.js';
import { Credential } from '../credential/index.js';
import { PROVIDER_AUTH_REFERENCE } from './provider-auth.js';
import { Provider } from './provider.entity.js';

export interface ProviderListArgs {
  first?: number | null;
  after?: string | null;
}

/** Reads providers; batches lookups by id so a page of tools loads its providers in one query. */
export class ProviderService {
  private readonly byId: DataLoader<string, Provider | null>;

  constructor(private readonly em: EntityManager) {
    this.byId = new DataLoader(async (ids) => {
      const found = await this.em.find(Provider, { id: { $in: [...ids] } });
      const index = new Map(found.map((p) => [p.id, p]));
      return ids.map((id) => index.get(id) ?? null);
    });
  }

  private authCredentials?: DataLoader<string, Credential | null>;

  /**
   * The credential a provider authenticates with (reference `auth`), batched so a page of
   * providers loads theirs in one query; null when it has none.
   */
  credentialOf(providerId: string): Promise<Credential | null> {
    this.authCredentials ??= new DataLoader(async (ids) => {
      const found = await this.em.find(Credential, { provider: { $in: [...ids] }, reference: PROVIDER_AUTH_REFERENCE });
      const index = new Map(found.map((c) => [c.provider.id, c]));
      return ids.map((id) => index.get(id) ?? null);
    });
    return this.authCredentials.load(providerId);
  }

  /** The provider with this id, batched with other lookups of the same request; null when absent. */
  async load(id: string): Promise<Provider | null> {
    return isUuid(id) ? this.byId.load(id) : null;
  }

  /** The provider with this id when `viewer` may read the catalog (federation `_entities`), else null. */
  async loadVisible(id: string, viewer: Viewer | null): Promise<Provider | null> {
    return viewer?.scopes.has(Scope.TOOLS_READ) ? this.load(id) : null;
  }

  findByName(name: string): Promise<Provider | null> {
    return this.em.findOne(Provider, { name });
  }

  /** One page of providers ordered by name. Throws PAGE_SIZE_EXCEEDED or INVALID_CURSOR. */
  async list(args: ProviderListArgs): Promise<Page<Provider>> {
    const size = pageSize(args.first);
    const after = args.after ? decodeCursor<[string]>('providers', args.after, ['string'])[0] : undefined;
    const rows = await this.em.find(Provider, after === undefined ? {} : { name: { $gt: after } }, {
      orderBy: { name: 'asc' },
      limit: size + 1,
    });
    return toPage(
      rows,
      size,
      args.after,
      (p) => encodeCursor('providers', [p.name]),
      () => this.em.count(Provider),
    );
  }
}
