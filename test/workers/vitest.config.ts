import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { createHash } from "node:crypto";
import { defineProject } from "vitest/config";
import { TEST_KEYS } from "./test-keys";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

const root = new URL("../..", import.meta.url).pathname;

export default defineProject({
  plugins: [
    cloudflareTest(({ inject }) => ({
      main: `${root}src/index.ts`,
      wrangler: { configPath: `${root}wrangler.toml` },
      miniflare: {
        bindings: {
          ORCHESTRATOR_API_KEY: "test-admin-key-0123456789",
          REGISTRATION_TOKEN: "test-registration-token",
          // Scoped credentials (test/workers/credentials.test.ts): keys with roles, a token scoped to
          // services, and the rotation companions. ADMIN_KEYS and REGISTRATION_TOKENS hold digests only.
          ORCHESTRATOR_API_KEY_PREVIOUS: TEST_KEYS.previousAdmin,
          REGISTRATION_TOKEN_PREVIOUS: TEST_KEYS.previousRegistration,
          ADMIN_KEYS: JSON.stringify({
            [sha256(TEST_KEYS.viewer)]: "viewer",
            [sha256(TEST_KEYS.operator)]: { role: "operator", name: "oncall" },
          }),
          REGISTRATION_TOKENS: JSON.stringify({ [sha256(TEST_KEYS.banking)]: { services: ["banking", "pay-*"], name: "payments-team" } }),
          // The loopback upstream checks lifecycle hook signatures with this same secret (upstream-server.ts).
          LIFECYCLE_HOOK_SECRET: inject("lifecycleHookSecret"),
          INSTANCE_TTL_SECONDS: "5",
          DEREGISTER_CRITICAL_AFTER_SECONDS: "3",
          DEGRADED_RESPONSE_TIME_MS: "300",
          // Three vantage points, all in this workerd (location hints do nothing locally): every health
          // test runs under quorum, and health-quorum.test.ts cuts one off.
          HEALTH_CHECK_VANTAGE_POINTS: "wnam,enam,weur",
          CORS_ORIGINS: "https://app.example.com,https://admin.example.com",
          METRICS_FLUSH_INTERVAL_MS: "100",
          // Short like the other intervals here: isolates report queue depth within 200 ms, not 1 s.
          EDGE_TABLE_SOFT_TTL_MS: "200",
          EDGE_REPORT_INTERVAL_MS: "1000",
          ALERT_GROUP_WAIT_MS: "0",
          ALERT_GROUP_INTERVAL_MS: "1000",
          ALERT_EVALUATION_INTERVAL_MS: "200",
          // Real webhook receivers: "instances" of the controllable loopback upstream.
          SLACK_WEBHOOK_URL: `http://127.0.0.1:${inject("upstreamPort")}/i/slack-receiver`,
          DISCORD_WEBHOOK_URL: `http://127.0.0.1:${inject("upstreamPort")}/i/discord-receiver`,
        },
      },
    })),
  ],
  test: {
    name: "workers",
    root,
    include: ["test/workers/**/*.test.ts"],
    testTimeout: 30_000,
    globalSetup: ["test/workers/global-setup.ts"],
  },
});
