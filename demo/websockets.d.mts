/** Types for demo/websockets.mjs (used from demo/fleet.mjs and the test upstreams). */
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

export declare const ECHO_PROTOCOL: "echo.v1";
/** The largest message the endpoints accept (64 MiB). */
export declare const MAX_MESSAGE_BYTES: number;

/** One upgrade request, as it arrived and as it was answered. */
export interface UpgradeRecord {
  /** Date.now() at arrival. */
  readonly at: number;
  /** The path it was routed on (/ws/echo, /ws/feed, …), query removed. */
  readonly path: string;
  /** Every request header as it arrived (x-request-id, x-forwarded-for, authorization if any reached it…). */
  readonly headers: IncomingHttpHeaders;
  /** Sec-WebSocket-Protocol as offered, split ([] when none). */
  readonly protocols: readonly string[];
  /** Sec-WebSocket-Extensions as offered, or null. */
  readonly extensions: string | null;
  /** 101 accepted, 404 unknown path, 400/405 not a valid upgrade; 0 while the handshake is under way. */
  readonly status: number;
  /** The subprotocol chosen, or null. */
  readonly protocol: string | null;
  /** The extensions accepted (permessage-deflate only when enabled), or null. */
  readonly acceptedExtensions: string | null;
  /** How the connection ended at this end (1006: it died without a close frame), or null while it is open. */
  readonly closed: { readonly code: number; readonly reason: string } | null;
}

export interface WebSocketEndpoints {
  /** The newest upgrade requests (up to keepUpgrades), oldest first; a live array. */
  readonly upgrades: readonly UpgradeRecord[];
  /** Connections open now. */
  open(): number;
  /** For the HTTP server's 'upgrade' event; `path` (default: the request's path) is where it is routed. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, path?: string): void;
  /** Drops every open connection at once, without a close frame (like a crash); returns how many. */
  terminateAll(): number;
  /** Closes every open connection with `code` (default 1001) and drops those still open after `graceMs` (default 1000). */
  closeAll(code?: number, reason?: string, graceMs?: number): Promise<void>;
}

/** Answers an upgrade request with a plain HTTP response (text/plain `text`, plus `headers`) instead, then destroys the socket. */
export declare function refuseUpgrade(socket: Duplex, status: number, text?: string, headers?: Readonly<Record<string, string>>): void;

/** Whether the request asks for a WebSocket (not another upgrade): for http.createServer's shouldUpgradeCallback. */
export declare function isWebSocketUpgrade(request: IncomingMessage): boolean;

export declare function createWebSocketEndpoints(options: {
  /** Named in every /ws/feed tick. */
  readonly service: string;
  /** Named in every /ws/feed tick and in log lines. */
  readonly instance: string;
  /** One line per connection opened and closed; null for silence. */
  readonly log?: ((message: string) => void) | null | false;
  /** Accept permessage-deflate when offered (default false). */
  readonly perMessageDeflate?: boolean;
  /** How many upgrade records to keep, newest (default 100). */
  readonly keepUpgrades?: number;
  /** Added to every answer to an upgrade, the 101 and refusals alike (the test upstreams send x-upstream-name). */
  readonly responseHeaders?: Readonly<Record<string, string>>;
}): WebSocketEndpoints;
