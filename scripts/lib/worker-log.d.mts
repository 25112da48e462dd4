/** Types for scripts/lib/worker-log.mjs (used from the TypeScript test suites). */
export declare function parseWorkerLine(line: string): Record<string, unknown> | null;
export declare function showWorkerEntry(entry: Record<string, unknown>): boolean;
export declare function summarizeWorkerEntry(entry: Record<string, unknown>): string;
