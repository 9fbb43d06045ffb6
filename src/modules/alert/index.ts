export { AlertRule, AlertRuleName, SecurityAlert } from './alert.entity.js';
export { type AlertCounters, MemoryAlertCounters, RedisAlertCounters } from './alert.counters.js';
export { secretKindsIn, secretKindsInValue, type SecretKind } from './alert.secrets.js';
export { AlertService } from './alert.service.js';
export { type SecurityEvent, SecurityMonitor, OFF_HOURS_MIN_HISTORY } from './alert.monitor.js';
export { AlertWebhook, SIGNATURE_HEADER, signatureOf } from './alert.webhook.js';
export { AlertResolver } from './alert.resolver.js';
export { SecurityAlertConnectionResolver } from './alert.types.js';
export { alertRules } from './alert.rules.js';
