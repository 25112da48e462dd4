/** Types for demo/fleet.mjs (used from the TypeScript test suites). */
export declare const DEFAULT_SERVICES: readonly string[];

export declare class FleetInstance {
  readonly service: string;
  readonly name: string;
  readonly port: number;
  /** http://127.0.0.1:<port> once listening. */
  readonly url: string;
  /** The registry id, or null while unregistered. */
  readonly id: string | null;
  readonly inflight: number;
  /** Like a crash: stops answering and heartbeating, keeps the registration. */
  kill(): Promise<void>;
  /** Starts again on the same port, registers (adopting its registration) and heartbeats. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export declare function startFleet(options: {
  readonly orchestratorUrl: string;
  readonly token: string;
  readonly basePort?: number;
  readonly services?: readonly string[];
  readonly instancesPerService?: number;
  /** LIFECYCLE_HOOK_SECRET; without it POST /__lifecycle/restart answers 404. */
  readonly hookSecret?: string;
  readonly log?: ((message: string) => void) | null | false;
  readonly signal?: AbortSignal;
}): Promise<{ readonly instances: FleetInstance[]; stop(): Promise<void> }>;

export declare function readDevVars(path?: string): Record<string, string>;
