/** Types for scripts/lib/processes.mjs (used from the TypeScript test suites). */
import type { ChildProcess } from "node:child_process";

export declare function sendSignal(pid: number, signal: NodeJS.Signals | 0, options?: { readonly group?: boolean }): boolean;
export declare function isAlive(pid: number, options?: { readonly group?: boolean }): boolean;
export declare function stopProcess(
  pid: number,
  options?: { readonly group?: boolean; readonly graceMs?: number; readonly pollMs?: number; readonly killWaitMs?: number; readonly onForce?: () => void },
): Promise<void>;
export declare function spawnLogged(
  command: string,
  args: readonly string[],
  options: { readonly logFile: string; readonly append?: boolean; readonly cwd?: string; readonly env?: NodeJS.ProcessEnv },
): ChildProcess;

export interface CapturedRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr interleaved as they came. */
  readonly output: string;
}
export interface CaptureOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
}
export declare function startCaptured(command: string, args: readonly string[], options?: CaptureOptions): { readonly child: ChildProcess; readonly done: Promise<CapturedRun> };
export declare function runCaptured(command: string, args: readonly string[], options?: CaptureOptions): Promise<CapturedRun>;
export declare function tail(path: string, maxChars?: number): string;
