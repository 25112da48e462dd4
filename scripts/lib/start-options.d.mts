/** Types for scripts/lib/start-options.mjs (used from the TypeScript test suites). */
export declare const DEFAULT_PORT: number;
export declare const DEFAULT_FLEET_BASE_PORT: number;

export interface StartOptions {
  readonly port: number;
  readonly fleetBasePort: number;
  readonly fleetControlPort: number;
  readonly verbose: boolean;
  readonly reset: boolean;
  readonly help: boolean;
}

export declare function resolveStartOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { readonly ok: true; readonly options: StartOptions } | { readonly ok: false; readonly error: string };

export declare function startUsage(options: StartOptions): string;
