// Notifications of a job file run (`notify:`): the target schema, the summary as text, and sending it to every target.

export { notifyTargetSchema, describeTarget, COMMAND_PLACEHOLDERS } from './schema.js';
export type { NotifyTarget, CommandTarget, WebhookTarget, EmailTarget, EmailTargetOptions, NotifyWhen } from './schema.js';
export { renderSummaryText, summarySubject, jobName } from './render-text.js';
export { sendNotifications, wants, DEFAULT_NOTIFY_TIMEOUT_MS } from './send-notifications.js';
export type { NotifyOptions, NotifyResult } from './send-notifications.js';
export { checkNotifyTargets } from './preflight.js';
