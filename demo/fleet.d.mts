/** Types for demo/fleet.mjs (used from the TypeScript test suites). */
export declare const DEFAULT_SERVICES: readonly string[];

export interface FleetInstanceState {
  readonly name: string;
  readonly service: string;
  /** The version it registered with, or null. */
  readonly version: string | null;
  readonly url: string;
  readonly id: string | null;
  readonly mode: "up" | "killed" | "hang" | "slow" | "flap-down" | "flap-up" | "fail" | "stopped";
  /** For slow and flap: the delay, or the length of each half. */
  readonly ms?: number;
  readonly inflight: number;
  readonly openWebSockets: number;
}

export declare class FleetInstance {
  readonly service: string;
  readonly name: string;
  /** The version it registers with, or null (none). */
  readonly version: string | null;
  readonly port: number;
  /** http://127.0.0.1:<port> once listening. */
  readonly url: string;
  /** The registry id, or null while unregistered. */
  readonly id: string | null;
  /** HTTP requests being answered now (WebSockets not included: see openWebSockets). */
  readonly inflight: number;
  /** WebSocket connections open now (/ws/echo, /ws/feed). */
  openWebSockets(): number;
  /** Like a crash: drops open WebSockets without a close frame, stops answering and heartbeating, keeps the registration. */
  kill(): Promise<void>;
  /** Starts again on the same port (killing it first if it runs), registers (adopting its registration) and heartbeats; faults are gone. */
  restart(): Promise<void>;
  /** Accepts connections and answers nothing (health checks included) until heal(); heartbeats go on. */
  hang(): void;
  /** Every answer waits `ms` first. */
  slow(ms: number): void;
  /** 503 to everything for `ms`, then normal for `ms`, and so on, starting with the 503s. */
  flap(ms: number): void;
  /** 500 to every request but its health check (GET /health), which still passes: a bad build. */
  fail(): void;
  /** Back to normal: no fault, held requests answered, a killed instance started again. */
  heal(): Promise<void>;
  /** What it is doing now (the fleet control endpoint's answer). */
  state(): FleetInstanceState;
  /** Deregisters, closes open WebSockets with 1001 (drops those still open after 1 s) and closes the server. */
  stop(): Promise<void>;
}

export declare function startFleet(options: {
  readonly orchestratorUrl: string;
  readonly token: string;
  readonly basePort?: number;
  readonly services?: readonly string[];
  readonly instancesPerService?: number;
  /** The version every instance registers with (default "v1"). */
  readonly version?: string;
  /** LIFECYCLE_HOOK_SECRET; without it POST /__lifecycle/restart answers 404. */
  readonly hookSecret?: string;
  readonly log?: ((message: string) => void) | null | false;
  readonly signal?: AbortSignal;
}): Promise<Fleet>;

export interface Fleet {
  readonly instances: FleetInstance[];
  stop(): Promise<void>;
  /** One more instance of `service` with `version` (default "v2"), named <service>-<version>: listening, registered, heartbeating, in `instances`. */
  addInstance(service: string, options?: { readonly version?: string }): Promise<FleetInstance>;
  /** Deregisters and stops one instance, and takes it out of `instances`. */
  removeInstance(instance: FleetInstance): Promise<void>;
}

export declare function readDevVars(path?: string): Record<string, string>;
