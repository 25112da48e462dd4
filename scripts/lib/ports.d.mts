/** Types for scripts/lib/ports.mjs (used from the TypeScript test suites). */
export declare const LOOPBACK: "127.0.0.1";
export declare function freePort(host?: string): Promise<number>;
export declare function freePorts(n: number, host?: string): Promise<number[]>;
export declare function portIsFree(port: number, host?: string): Promise<boolean>;
