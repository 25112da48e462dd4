/**
 * The live dashboard's WebSockets, on the Durable Object hibernation API: the
 * runtime holds the sockets (`ctx.acceptWebSocket`), so the object can leave
 * memory while dashboards stay connected, and finds them again with
 * `ctx.getWebSockets()`. What a socket needs after that (its session and the
 * session's expiry) therefore lives in its attachment (`serializeAttachment`),
 * never in a field. The object's `webSocketMessage` and `webSocketClose`
 * handlers delegate here.
 *
 * What goes over the sockets is the live view (src/core/dashboard): a
 * versioned snapshot on connect, then deltas. Every socket is on the same
 * version, the hub's feed, so one delta serves them all. The feed lives in
 * memory only: after a wake-up (or an eviction) the hub has none, and its
 * first push is a snapshot to every socket, whatever version each was on.
 *
 * Pushes go out at most once a second while something changes, and every ten
 * seconds regardless, as a heartbeat for a quiet dashboard.
 */
import type { DashboardState } from "../../src/contracts/metrics";
import { advanceFeed, type LiveFeed, snapshotOf, startFeed } from "../../src/core/dashboard/delta";
import { type LiveView, liveView } from "../../src/core/dashboard/live-view";

/** Per-socket state, kept in the WebSocket's attachment so it survives hibernation and eviction. */
export interface SocketAttachment {
  readonly connectedAt: number;
  /** The dashboard session it belongs to, so signing out closes it. */
  readonly sessionId: string | null;
  /** The dashboard session's expiry: the socket is closed when the session ends. */
  readonly sessionExpiresAt: number | null;
}

/** Pushes are throttled to one a second; a quiet dashboard still gets a heartbeat delta. */
const PUSH_MIN_INTERVAL_MS = 1_000;
const PUSH_IDLE_INTERVAL_MS = 10_000;

/** Close code for a socket whose session ended (signed out or expired): the page goes back to sign-in. */
const SESSION_ENDED = 4001;

/** A view and when its build started: a slower, older build must not replace a newer one. */
interface Built {
  readonly view: LiveView;
  readonly startedAt: number;
}

export class DashboardHub {
  /** Something the dashboard shows changed since the last push. A new object cannot tell what was last sent, so it starts dirty. */
  private dirty = true;
  private lastPushAt = 0;
  /** The last view sent and its version; null after a wake-up, when no socket's version can be trusted. */
  private feed: LiveFeed | null = null;
  private feedStartedAt = 0;
  /** The feed's snapshot as sent, made when first asked for. */
  private snapshotJson: string | null = null;

  constructor(
    private readonly ctx: Pick<DurableObjectState, "acceptWebSocket" | "getWebSockets">,
    /** The full dashboard state, built when a push needs it. */
    private readonly state: () => Promise<DashboardState>,
    /** Brings the object's alarm forward to `at` at the latest, so pushes start for a new dashboard. */
    private readonly wakeBy: (at: number) => Promise<void>,
  ) {}

  /**
   * Accepts a dashboard WebSocket and sends it a snapshot of a view built now (the
   * others get the delta to it). Only the edge calls this, after it has checked the
   * session; it passes the session's id and expiry along in x-session-id and
   * x-session-expires-at.
   */
  async accept(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    const expires = Number(request.headers.get("x-session-expires-at"));
    const built = await this.build();
    // No await from here on: the sockets already open get this view's delta (or a snapshot), then the
    // new one is accepted and gets the snapshot of the same version, so every socket is on one version.
    this.publish(built);
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    const attachment: SocketAttachment = {
      connectedAt: Date.now(),
      sessionId: request.headers.get("x-session-id"),
      sessionExpiresAt: Number.isFinite(expires) && expires > 0 ? expires : null,
    };
    server.serializeAttachment(attachment);
    server.send(this.snapshotMessage());
    await this.wakeBy(Date.now() + PUSH_MIN_INTERVAL_MS);
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * A dashboard asks: "ping" for a pong, "refresh" for a snapshot of the current
   * version (it saw a gap, or lost its place); anything else is ignored.
   */
  async message(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (message === "ping") socket.send(JSON.stringify({ type: "pong", at: new Date().toISOString() }));
    else if (message === "refresh") {
      // Without a feed (just woken up) the push sends every socket a snapshot, this one included.
      if (this.feed === null) this.publish(await this.build());
      else socket.send(this.snapshotMessage());
    }
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
   * Sends every dashboard the delta to a view built now, when one is due (`force`: now,
   * whatever the throttle says), closing the sockets whose session has expired instead.
   */
  async push(force = false): Promise<void> {
    if (this.ctx.getWebSockets().length === 0) return;
    const now = Date.now();
    const due = force || (this.dirty && now - this.lastPushAt >= PUSH_MIN_INTERVAL_MS) || now - this.lastPushAt >= PUSH_IDLE_INTERVAL_MS;
    if (!due) return;
    this.publish(await this.build());
  }

  /** While any dashboard is connected, the loop must tick at least as often as pushes may go out. */
  nextPushAt(now: number): number | null {
    return this.ctx.getWebSockets().length > 0 ? now + PUSH_MIN_INTERVAL_MS : null;
  }

  private async build(): Promise<Built> {
    const startedAt = Date.now();
    const state = await this.state();
    return { view: liveView(state, Date.now()), startedAt };
  }

  /**
   * Moves the feed to `built` and sends the open sockets the delta to it; without a feed
   * (a new object), a snapshot. Synchronous, so two pushes cannot interleave their sends.
   */
  private publish(built: Built): void {
    // A build that started before the current feed's finished after it: its view is older. Keep the feed.
    if (this.feed !== null && built.startedAt < this.feedStartedAt) return;
    const now = Date.now();
    let message: string;
    if (this.feed === null) {
      // Versions start from the clock, so they keep growing across wake-ups and evictions.
      this.feed = startFeed(built.view, now, now);
      this.snapshotJson = null;
      message = this.snapshotMessage();
    } else {
      const next = advanceFeed(this.feed, built.view, now);
      this.feed = next.feed;
      this.snapshotJson = null;
      message = JSON.stringify(next.delta);
    }
    this.feedStartedAt = built.startedAt;
    this.dirty = false;
    this.lastPushAt = now;
    for (const socket of this.ctx.getWebSockets()) {
      const attachment = socket.deserializeAttachment() as SocketAttachment | null;
      try {
        if (attachment?.sessionExpiresAt && attachment.sessionExpiresAt <= now) socket.close(SESSION_ENDED, "session expired");
        else socket.send(message);
      } catch {
        // A socket that died between getWebSockets() and send(): the runtime cleans it up.
      }
    }
  }

  /** The current feed's snapshot message (publish has always made a feed before this is asked for). */
  private snapshotMessage(): string {
    if (this.feed === null) throw new Error("no feed to take a snapshot of");
    this.snapshotJson ??= JSON.stringify(snapshotOf(this.feed));
    return this.snapshotJson;
  }
}
