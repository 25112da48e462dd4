/**
 * Alert rule thresholds and their reading from the environment variables the
 * README documents (ERROR_RATE_THRESHOLD default 5 %, RESPONSE_TIME_THRESHOLD
 * default 5000 ms). A bad value falls back to the default and is reported, so a
 * typo in config neither disables alerting nor goes unnoticed.
 */

export interface RuleConfig {
  /** HighErrorRate fires when the windowed error rate (5xx + gateway, %) is above this. */
  readonly errorRateThresholdPercent: number;
  /** HighLatency fires when the windowed p95 (ms) is above this. */
  readonly responseTimeThresholdMs: number;
  /** Below this many requests in the window, rates and p95 are noise: no HighErrorRate/HighLatency. */
  readonly minRequestVolume: number;
  /** Consecutive failed health checks before InstanceUnhealthy (README healthConfig.alertThreshold). */
  readonly alertThreshold: number;
}

export const DEFAULT_RULE_CONFIG: RuleConfig = {
  errorRateThresholdPercent: 5,
  responseTimeThresholdMs: 5000,
  minRequestVolume: 20,
  alertThreshold: 2,
};

export interface RuleEnv {
  readonly ERROR_RATE_THRESHOLD?: string;
  readonly RESPONSE_TIME_THRESHOLD?: string;
}

function parseNumber(raw: string, suffix: RegExp): number | null {
  const text = raw.trim().replace(suffix, "").trim();
  if (!/^\d+(\.\d+)?$/.test(text)) return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

/**
 * ERROR_RATE_THRESHOLD is a percentage ("5" or "5%"; "0.5" means half a
 * percent, not 50 %), within (0, 100]. RESPONSE_TIME_THRESHOLD is ms ("5000"
 * or "5000ms"), positive. Unset or empty means the default.
 */
export function ruleConfigFromEnv(env: RuleEnv, base: RuleConfig = DEFAULT_RULE_CONFIG): { config: RuleConfig; problems: string[] } {
  const problems: string[] = [];
  let errorRateThresholdPercent = base.errorRateThresholdPercent;
  let responseTimeThresholdMs = base.responseTimeThresholdMs;
  const rate = env.ERROR_RATE_THRESHOLD;
  if (rate !== undefined && rate.trim() !== "") {
    const n = parseNumber(rate, /%$/);
    if (n === null || n <= 0 || n > 100) {
      problems.push(`ERROR_RATE_THRESHOLD must be a percentage in (0, 100], got "${rate}"; using ${errorRateThresholdPercent}`);
    } else errorRateThresholdPercent = n;
  }
  const time = env.RESPONSE_TIME_THRESHOLD;
  if (time !== undefined && time.trim() !== "") {
    const n = parseNumber(time, /ms$/i);
    if (n === null || n <= 0) {
      problems.push(`RESPONSE_TIME_THRESHOLD must be a positive number of ms, got "${time}"; using ${responseTimeThresholdMs}`);
    } else responseTimeThresholdMs = n;
  }
  return { config: { ...base, errorRateThresholdPercent, responseTimeThresholdMs }, problems };
}
