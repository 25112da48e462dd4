/**
 * One proxied WebSocket connection: the client's socket (our end of a
 * WebSocketPair) and the upstream's (from fetch with `Upgrade: websocket`),
 * both accepted by this Worker, with every message passed across unchanged
 * (text stays text, binary stays binary).
 *
 * The Worker terminates both connections rather than handing the upstream's
 * socket straight to the client, so that it sees the connection end: that is
 * what lets it count the connection in flight until it closes, close it for a
 * drain, and tell the client promptly when the upstream dies. Each leg
 * negotiates its own compression (the runtime's permessage-deflate); the
 * subprotocol is the upstream's choice, passed to the client by the caller.
 *
 * The connection ends exactly once (`onEnd`), whichever comes first:
 * - either end closes (its close is forwarded: core/websocket-close.ts) or errors;
 * - the drain timeout after the instance is seen out of rotation (stopped,
 *   restarted, deregistered): both ends get 1001 "going away", so the client
 *   reconnects to another instance;
 * - nothing crosses in either direction for the idle timeout (0: never): both
 *   ends get 1001, so a client that vanished without a close is not counted
 *   (and its upstream socket held) forever.
 * A tick (every `tickMs`) checks the last two and lets the caller keep the
 * isolate's routing table and lease fresh (`onTick`).
 */
import { CLOSE_ABNORMAL, CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR, type CloseFrame, forwardedClose, type RelaySide } from "../core/websocket-close";

/** Why a relayed connection ended. */
export type RelayEndReason = "client-closed" | "upstream-closed" | "client-error" | "upstream-error" | "drained" | "idle";

export interface RelayEnd {
  readonly reason: RelayEndReason;
  /** The close code that ended it: the closing end's own (1006 for a connection that died), or 1001 for a drain or idle timeout. */
  readonly code: number;
}

export interface RelayOptions {
  /** Our end of the client's connection (already accepted or not: the relay accepts it). */
  readonly client: WebSocket;
  /** The upstream's connection from fetch's response.webSocket. */
  readonly upstream: WebSocket;
  readonly tickMs: number;
  /** 0: no idle timeout. */
  readonly idleTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly now: () => number;
  /** Whether the instance is still in rotation; once it has been out for the drain timeout, the connection is closed. */
  readonly inRotation: () => boolean;
  /** Called on every tick while the connection is open. */
  readonly onTick: () => void;
  /** Called once, when the connection has ended. */
  readonly onEnd: (end: RelayEnd) => void;
}

export function relayWebSocket(options: RelayOptions): void {
  const { client, upstream, now } = options;
  let ended = false;
  let lastActivityAt = now();
  let drainAt: number | null = null;

  const end = (result: RelayEnd, toClient: CloseFrame | null, toUpstream: CloseFrame | null): void => {
    if (ended) return;
    ended = true;
    clearInterval(timer);
    closeQuietly(client, toClient);
    closeQuietly(upstream, toUpstream);
    options.onEnd(result);
  };

  const pass = (from: RelaySide, to: WebSocket) => (event: MessageEvent) => {
    if (ended) return;
    lastActivityAt = now();
    try {
      to.send(event.data as string | ArrayBuffer);
    } catch {
      // The other end is already gone: its own close or error event ends the relay,
      // and if none comes, this does.
      const code = CLOSE_ABNORMAL;
      if (from === "client") end({ reason: "upstream-error", code }, forwardedClose("upstream", code, ""), null);
      else end({ reason: "client-error", code }, null, forwardedClose("client", code, ""));
    }
  };

  // Binary messages as ArrayBuffers (the default is Blob), so each is passed on as it arrives, in order.
  client.binaryType = "arraybuffer";
  upstream.binaryType = "arraybuffer";
  client.accept();
  upstream.accept();
  client.addEventListener("message", pass("client", upstream));
  upstream.addEventListener("message", pass("upstream", client));
  client.addEventListener("close", (event) => {
    end({ reason: "client-closed", code: event.code }, echo(event), forwardedClose("client", event.code, event.reason));
  });
  upstream.addEventListener("close", (event) => {
    end({ reason: "upstream-closed", code: event.code }, forwardedClose("upstream", event.code, event.reason), echo(event));
  });
  client.addEventListener("error", () => {
    end({ reason: "client-error", code: CLOSE_ABNORMAL }, null, forwardedClose("client", CLOSE_ABNORMAL, ""));
  });
  upstream.addEventListener("error", () => {
    end({ reason: "upstream-error", code: CLOSE_ABNORMAL }, forwardedClose("upstream", CLOSE_ABNORMAL, ""), { code: CLOSE_INTERNAL_ERROR, reason: "" });
  });

  const goingAway = (reason: string): CloseFrame => ({ code: CLOSE_GOING_AWAY, reason });
  const timer = setInterval(() => {
    if (ended) return;
    const at = now();
    if (options.idleTimeoutMs > 0 && at - lastActivityAt >= options.idleTimeoutMs) {
      end({ reason: "idle", code: CLOSE_GOING_AWAY }, goingAway("idle timeout"), goingAway("idle timeout"));
      return;
    }
    // Once out, the connection is drained even if the instance comes back (a restart): it is to a
    // process that went away, and its client should reconnect.
    if (drainAt === null && !options.inRotation()) drainAt = at + options.drainTimeoutMs;
    if (drainAt !== null && at >= drainAt) {
      end({ reason: "drained", code: CLOSE_GOING_AWAY }, goingAway("instance going away"), goingAway("instance going away"));
      return;
    }
    options.onTick();
  }, options.tickMs);
}

/** The reply to a close frame we received: the same code where it may be sent (the runtime also replies on its own; a second reply is ignored). */
function echo(event: CloseEvent): CloseFrame | null {
  return forwardedClose("client", event.code, event.reason).code === event.code ? { code: event.code, reason: "" } : null;
}

/** Closes one end; one that is already closed or closing is left as it is. */
function closeQuietly(socket: WebSocket, frame: CloseFrame | null): void {
  try {
    if (frame === null) socket.close();
    else if (frame.code === null) socket.close();
    else socket.close(frame.code, frame.reason);
  } catch {
    // Already closed: nothing to tell it.
  }
}
