/** Types for scripts/lib/wait.mjs (used from the TypeScript test suites). */
export declare function sleep(ms: number): Promise<void>;
export declare function describeFetchError(error: unknown): string;
export declare function waitForHttp(
  url: string,
  options: {
    readonly timeoutMs: number;
    readonly intervalMs?: number;
    readonly requestTimeoutMs?: number;
    readonly ready?: (status: number) => boolean;
    readonly cancelled?: () => boolean;
    readonly giveUp?: (response: Response) => Promise<string | undefined>;
  },
): Promise<{ readonly ready: true } | { readonly ready: false; readonly last: string; readonly gaveUp: boolean }>;
