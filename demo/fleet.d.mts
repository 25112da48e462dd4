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
  /** HTTP requests being answered now (WebSockets not included: see openWebSockets). */
  readonly inflight: number;
  /** WebSocket connections open now (/ws/echo, /ws/feed). */
  openWebSockets(): number;
  /** Like a crash: drops open WebSockets without a close frame, stops answering and heartbeating, keeps the registration. */
  kill(): Promise<void>;
  /** Starts again on the same port, registers (adopting its registration) and heartbeats. */
  restart(): Promise<void>;
  /** Deregisters, closes open WebSockets with 1001 (drops those still open after 1 s) and closes the server. */
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
