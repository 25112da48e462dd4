/** Types for demo/hook-signature.mjs (used from the TypeScript test suites). */
export declare const TOLERANCE_SECONDS: number;
export declare function verifyLifecycleHook(request: {
  readonly secret: string;
  readonly method: string;
  readonly path: string;
  readonly body: string;
  readonly timestamp: string | undefined;
  readonly signature: string | undefined;
  readonly nowMs?: number;
}): { ok: true } | { ok: false; reason: string };
