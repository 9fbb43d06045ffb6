import { Arg, Ctx, Int, Mutation, Query, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { type Page } from '../../common/pagination.js';
import { withUserErrors } from '../../common/user-errors.js';
import { type RegistryContext } from '../../context.types.js';
import { type AlertRule, type SecurityAlert } from './alert.entity.js';
import { alertFromJson } from './alert.service.js';
import { AlertRuleNode, SecurityAlertConnection, SecurityAlertFilter, SecurityAlertNode, UpdateAlertRuleInput, UpdateAlertRulePayload } from './alert.types.js';

/** Every alert raised on any replica from now on, until the client leaves. */
async function* alertsRaised({ context: ctx }: SubscribeResolverData<unknown, object, RegistryContext>): AsyncGenerator<SecurityAlert> {
  const stop = new AbortController();
  try {
    for await (const message of await ctx.securityMonitor.listen(stop.signal)) yield alertFromJson(message);
  } finally {
    stop.abort();
  }
}

@Resolver()
export class AlertResolver {
  @Query(() => SecurityAlertConnection, { description: 'Security alerts, newest first (audit:read).' })
  securityAlerts(
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => SecurityAlertFilter, { nullable: true }) filter: SecurityAlertFilter | null,
    @Ctx() ctx: RegistryContext,
  ): Promise<Page<SecurityAlert>> {
    return ctx.alerts.list({ first, after, filter });
  }

  @Query(() => [AlertRuleNode], { description: 'The alert rules with their thresholds and windows (admin).' })
  alertRules(@Ctx() ctx: RegistryContext): Promise<AlertRule[]> {
    return ctx.alerts.rules();
  }

  @Mutation(() => UpdateAlertRulePayload, { description: 'Turns an alert rule on or off, or changes its threshold or window; applies on every replica (admin).' })
  async updateAlertRule(@Arg('input') input: UpdateAlertRuleInput, @Ctx() ctx: RegistryContext) {
    const payload = await withUserErrors(() => ctx.alerts.updateRule(input, ctx.actor));
    if (payload.rule) await ctx.securityMonitor.announceRules();
    return payload;
  }

  @Subscription(() => SecurityAlertNode, {
    description: 'Security alerts as they are raised on any replica (audit:read).',
    subscribe: alertsRaised as never,
  })
  securityAlertRaised(@Root() alert: SecurityAlertNode): SecurityAlertNode {
    return alert;
  }
}
