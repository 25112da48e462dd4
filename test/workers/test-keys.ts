/** Credentials the workers pool is configured with (vitest.config.ts) beside ORCHESTRATOR_API_KEY and REGISTRATION_TOKEN. */
export const TEST_KEYS = {
  viewer: "test-viewer-key-0123456789",
  operator: "test-operator-key-0123456789",
  previousAdmin: "test-previous-admin-key-0123456789",
  previousRegistration: "test-previous-registration-token",
  /** Scoped to banking and pay-*. */
  banking: "test-banking-registration-token",
} as const;
