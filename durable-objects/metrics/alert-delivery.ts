/**
 * Sends due webhook notifications (Slack, Discord) from the outbox. Webhook
 * URLs obey the same SSRF rules as upstreams; redirects are not followed. Each
 * attempt's result goes back into the outbox, which decides about retries
 * (429 and 5xx with backoff honouring Retry-After) and dead letters.
 */
import { type Config, upstreamUrlPolicy } from "../../src/config";
import { dueEntries, type Outbox, recordAttempt } from "../../src/core/alerts/outbox";
import { checkUpstreamUrl } from "../../src/core/url-guard";

const DELIVERY_TIMEOUT_MS = 10_000;
const MAX_PER_TICK = 10;

export function webhookUrlFor(config: Config, target: "slack" | "discord"): string | undefined {
  return target === "slack" ? config.alerts.slackWebhookUrl : config.alerts.discordWebhookUrl;
}

export async function deliverDue(outbox: Outbox, config: Config, now: number): Promise<Outbox> {
  let current = outbox;
  for (const entry of dueEntries(outbox, now, MAX_PER_TICK)) {
    const url = webhookUrlFor(config, entry.target);
    const check = url === undefined ? null : checkUpstreamUrl(url, upstreamUrlPolicy(config));
    if (check === null || !check.ok) {
      // Not configured (any more) or refused by the SSRF guard: a permanent failure, dead-lettered with the reason.
      current = recordAttempt(current, entry.id, { status: 400 }, Date.now()).outbox;
      console.error(JSON.stringify({ level: "error", message: "alert webhook refused", target: entry.target, reason: check?.ok === false ? check.message : "not configured" }));
      continue;
    }
    let result: { status: number; retryAfterHeader?: string } | { networkError: true; message?: string };
    try {
      const response = await fetch(check.url.href, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "orchestrator-alerts/1.0" },
        body: JSON.stringify(entry.payload),
        redirect: "manual",
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      await response.body?.cancel();
      const retryAfter = response.headers.get("retry-after");
      result = retryAfter === null ? { status: response.status } : { status: response.status, retryAfterHeader: retryAfter };
    } catch (error) {
      result = { networkError: true, message: error instanceof Error ? error.message : String(error) };
    }
    const attempt = recordAttempt(current, entry.id, result, Date.now());
    current = attempt.outbox;
    console.log(JSON.stringify({ level: attempt.decision?.outcome === "delivered" ? "info" : "warn", message: "alert delivery", target: entry.target, id: entry.id, outcome: attempt.decision?.outcome }));
  }
  return current;
}
