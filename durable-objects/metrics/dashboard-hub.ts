/**
 * The live dashboard's WebSockets, on the Durable Object hibernation API: the
 * runtime holds the sockets (`ctx.acceptWebSocket`), so the object can leave
 * memory while dashboards stay connected, and finds them again with
 * `ctx.getWebSockets()`. What a socket needs after that (its session and the
 * session's expiry) therefore lives in its attachment (`serializeAttachment`),
 * never in a field. The object's `webSocketMessage` and `webSocketClose`
 * handlers delegate here.
 *
 * Snapshots are pushed at most once a second while something changes, and
 * every ten seconds regardless, as a heartbeat for a quiet dashboard.
 */
import type { DashboardState } from "../../src/contracts/metrics";

/** Per-socket state, kept in the WebSocket's attachment so it survives hibernation and eviction. */
export interface SocketAttachment {
  readonly connectedAt: number;
  /** The dashboard session it belongs to, so signing out closes it. */
  readonly sessionId: string | null;
  /** The dashboard session's expiry: the socket is closed when the session ends. */
  readonly sessionExpiresAt: number | null;
}

/** Pushes are throttled to one a second; a quiet dashboard still gets a heartbeat snapshot. */
const PUSH_MIN_INTERVAL_MS = 1_000;
const PUSH_IDLE_INTERVAL_MS = 10_000;

/** Close code for a socket whose session ended (signed out or expired): the page goes back to sign-in. */
const SESSION_ENDED = 4001;

export class DashboardHub {
  /** Something the dashboard shows changed since the last push. A new object cannot tell what was last sent, so it starts dirty. */
  private dirty = true;
  private lastPushAt = 0;

  constructor(
    private readonly ctx: Pick<DurableObjectState, "acceptWebSocket" | "getWebSockets">,
    /** What every push sends, built when it is sent. */
    private readonly snapshot: () => Promise<DashboardState>,
    /** Brings the object's alarm forward to `at` at the latest, so pushes start for a new dashboard. */
    private readonly wakeBy: (at: number) => Promise<void>,
  ) {}

  /**
   * Accepts a dashboard WebSocket and sends it a first snapshot. Only the edge calls
   * this, after it has checked the session; it passes the session's id and expiry along
   * in x-session-id and x-session-expires-at.
   */
  async accept(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    const expires = Number(request.headers.get("x-session-expires-at"));
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    const attachment: SocketAttachment = {
      connectedAt: Date.now(),
      sessionId: request.headers.get("x-session-id"),
      sessionExpiresAt: Number.isFinite(expires) && expires > 0 ? expires : null,
    };
    server.serializeAttachment(attachment);
    server.send(JSON.stringify(await this.snapshot()));
    await this.wakeBy(Date.now() + PUSH_MIN_INTERVAL_MS);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** A dashboard asks: "ping" for a pong, "refresh" for a snapshot now; anything else is ignored. */
  async message(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (message === "ping") socket.send(JSON.stringify({ type: "pong", at: new Date().toISOString() }));
    else if (message === "refresh") socket.send(JSON.stringify(await this.snapshot()));
  }

  /** A dashboard closed its socket: the hibernation API leaves answering the close frame to us. */
  closed(socket: WebSocket, code: number): void {
    // 1005 (no status), 1006 (abnormal) and 1015 (TLS failure) are reserved: they may not be sent
    // in a close frame (RFC 6455 §7.4.1), so close() would throw. Answer everything else in kind.
    if (code !== 1005 && code !== 1006 && code !== 1015) socket.close(code, "closing");
  }

  /** Closes the dashboards of a session that signed out; how many there were. */
  closeSession(sessionId: string): number {
    let closed = 0;
    for (const socket of this.ctx.getWebSockets()) {
      const attachment = socket.deserializeAttachment() as SocketAttachment | null;
      if (attachment?.sessionId !== sessionId) continue;
      socket.close(SESSION_ENDED, "signed out");
      closed++;
    }
    return closed;
  }

  /** The connected dashboards (and since when), from the attachments: works after hibernation too. */
  subscribers(): SocketAttachment[] {
    return this.ctx.getWebSockets().map((socket) => socket.deserializeAttachment() as SocketAttachment);
  }

  /** Something the dashboard shows changed: the next push that the throttle allows sends it. */
  markChanged(): void {
    this.dirty = true;
  }

  /**
   * Sends a snapshot to every dashboard when one is due (`force`: now, whatever the
   * throttle says), closing the sockets whose session has expired instead.
   */
  async push(force = false): Promise<void> {
    const sockets = this.ctx.getWebSockets();
    if (sockets.length === 0) return;
    const now = Date.now();
    const due = force || (this.dirty && now - this.lastPushAt >= PUSH_MIN_INTERVAL_MS) || now - this.lastPushAt >= PUSH_IDLE_INTERVAL_MS;
    if (!due) return;
    const message = JSON.stringify(await this.snapshot());
    this.dirty = false;
    this.lastPushAt = now;
    for (const socket of sockets) {
      const attachment = socket.deserializeAttachment() as SocketAttachment | null;
      try {
        if (attachment?.sessionExpiresAt && attachment.sessionExpiresAt <= now) socket.close(SESSION_ENDED, "session expired");
        else socket.send(message);
      } catch {
        // A socket that died between getWebSockets() and send(): the runtime cleans it up.
      }
    }
  }

  /** While any dashboard is connected, the loop must tick at least as often as pushes may go out. */
  nextPushAt(now: number): number | null {
    return this.ctx.getWebSockets().length > 0 ? now + PUSH_MIN_INTERVAL_MS : null;
  }
}
