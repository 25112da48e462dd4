/** Types for demo/fleet-control.mjs (used from scripts/start.mjs and the TypeScript test suites). */
import type { FleetInstance } from "./fleet.mjs";

export declare const DEFAULT_SLOW_MS: number;
export declare const DEFAULT_FLAP_MS: number;

export interface FleetControl {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The fleet's control endpoint on 127.0.0.1:`port` (a busy port falls back to a free one; 0 or none: a free one).
 * With `addInstance` and `removeInstance` (a Fleet's), it also starts canaries and removes instances.
 */
export declare function startFleetControl(
  instances: readonly FleetInstance[],
  options?: {
    readonly port?: number;
    readonly log?: ((message: string) => void) | null;
    readonly addInstance?: (service: string, options: { readonly version: string }) => Promise<FleetInstance>;
    readonly removeInstance?: (instance: FleetInstance) => Promise<void>;
  },
): Promise<FleetControl>;
