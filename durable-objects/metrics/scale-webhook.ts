/**
 * Tells an external provisioner how many instances a service should have
 * (SCALE_WEBHOOK_URL), when the autoscaler acts. One attempt, logged: the next
 * evaluation sends the then-current desired count anyway, so a lost message is
 * superseded rather than retried. Same SSRF rules as upstreams.
 */
import { type Config, upstreamUrlPolicy } from "../../src/config";
import { checkUpstreamUrl } from "../../src/core/url-guard";

export async function notifyScaleWebhook(config: Config, service: string, current: number, desired: number, shortBy: number): Promise<void> {
  if (!config.scaleWebhookUrl) return;
  const check = checkUpstreamUrl(config.scaleWebhookUrl, upstreamUrlPolicy(config));
  if (!check.ok) {
    console.error(JSON.stringify({ level: "error", message: "scale webhook refused", reason: check.message }));
    return;
  }
  try {
    const response = await fetch(check.url.href, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "orchestrator-autoscaler/1.0" },
      body: JSON.stringify({ service, current, desired, shortBy, at: new Date().toISOString() }),
      redirect: "manual",
      signal: AbortSignal.timeout(10_000),
    });
    await response.body?.cancel();
    console.log(JSON.stringify({ level: response.ok ? "info" : "warn", message: "scale webhook", service, desired, status: response.status }));
  } catch (error) {
    console.error(JSON.stringify({ level: "error", message: "scale webhook failed", service, error: String(error) }));
  }
}
