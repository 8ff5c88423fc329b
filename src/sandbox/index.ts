/** The local Didit look-alike: v3 session API, hosted verification page and signed webhooks. */
export { createDiditSandbox, DiditSandbox, callbackUrl } from './create-didit-sandbox.js';
export type { DiditSandboxOptions, SandboxApiFault, SandboxRateLimits, SandboxSession } from './create-didit-sandbox.js';
export { buildSandboxDecision, SANDBOX_NODES, SANDBOX_PERSON, ageAt } from './build-sandbox-decision.js';
export type { DecisionSource, SandboxScenario } from './build-sandbox-decision.js';
export { buildStatusWebhook } from './build-status-webhook.js';
export { renderMessagePage, renderSessionPage } from './render-session-page.js';
export type { SessionPageInput } from './render-session-page.js';
export { hostedPageView, isReusable, openSession, reuseSession, setSessionStatus, startSession, submitSession, UPDATABLE_TO, updateSessionStatus } from './sandbox-session.js';
export type { HostedPageView, NewSandboxSession, PageDecision, SessionRefusal, SessionSteps, SessionTransition, UpdatableStatus } from './sandbox-session.js';
export { SlidingWindowLimiter } from './sliding-window-limiter.js';
export type { ScopeState, TakeResult } from './sliding-window-limiter.js';
export { signWebhook, WebhookDispatcher } from './webhook-dispatcher.js';
export type { SandboxDelivery, SignedWebhook, WebhookDispatcherOptions } from './webhook-dispatcher.js';
