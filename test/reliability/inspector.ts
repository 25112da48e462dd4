/**
 * Just enough of the Chrome DevTools Protocol to ask workerd's V8 how much of
 * its JavaScript heap is live: force a full GC, then read the heap usage.
 * RSS alone cannot tell a leak from garbage V8 has not collected yet (with no
 * memory pressure it grows its heap lazily); the live heap after a GC can.
 *
 * A minimal WebSocket client over node:http (text frames, client-masked), so
 * nothing beyond Node itself is needed. workerd must run with --inspector-addr.
 */
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import type { Socket } from "node:net";

export class Inspector {
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: Record<string, unknown>) => void; reject: (error: Error) => void }>();

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    const fail = () => {
      for (const { reject } of this.pending.values()) reject(new Error("inspector connection closed"));
      this.pending.clear();
    };
    socket.on("close", fail);
    socket.on("error", fail);
  }

  /** Connects to the first target (the worker "main": the edge and its Durable Objects share its isolate). */
  static async connect(port: number, timeoutMs = 10_000): Promise<Inspector> {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(timeoutMs) })).json()) as Array<{ webSocketDebuggerUrl: string }>;
    const url = new URL(targets[0]?.webSocketDebuggerUrl ?? "");
    const socket = await new Promise<Socket>((resolve, reject) => {
      const req = request({
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-key": randomBytes(16).toString("base64"), "sec-websocket-version": "13" },
        timeout: timeoutMs,
      });
      req.on("upgrade", (_res, upgraded: Socket) => resolve(upgraded));
      req.on("response", (res) => reject(new Error(`inspector refused the upgrade: HTTP ${res.statusCode}`)));
      req.on("timeout", () => req.destroy(new Error("inspector: no answer")));
      req.on("error", reject);
      req.end();
    });
    return new Inspector(socket);
  }

  call(method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const payload = Buffer.from(JSON.stringify({ id, method, params }));
    const mask = randomBytes(4);
    const length = payload.length;
    const header = length < 126 ? Buffer.from([0x81, 0x80 | length]) : length < 65_536 ? Buffer.from([0x81, 0x80 | 126, length >> 8, length & 0xff]) : Buffer.concat([Buffer.from([0x81, 0x80 | 127]), bigLength(length)]);
    const masked = Buffer.alloc(length);
    for (let i = 0; i < length; i++) masked[i] = (payload[i] as number) ^ (mask[i % 4] as number);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`inspector: ${method} timed out`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.socket.write(Buffer.concat([header, mask, masked]));
    });
  }

  /** Live JavaScript heap after a full GC, in bytes. */
  async liveHeapBytes(): Promise<number> {
    await this.call("HeapProfiler.collectGarbage");
    const usage = await this.call("Runtime.getHeapUsage");
    const result = usage.result as { usedSize?: number } | undefined;
    if (typeof result?.usedSize !== "number") throw new Error(`inspector: unexpected answer ${JSON.stringify(usage).slice(0, 200)}`);
    return result.usedSize;
  }

  close(): void {
    this.socket.destroy();
  }

  /** Server frames are unmasked; messages may span several frames (continuations). */
  private message: Buffer[] = [];
  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.buffer.length < 2) return;
      const first = this.buffer[0] as number;
      const second = this.buffer[1] as number;
      let length = second & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) return;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) return;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.buffer.length < offset + length) return;
      const payload = this.buffer.subarray(offset, offset + length);
      this.buffer = this.buffer.subarray(offset + length);
      const opcode = first & 0x0f;
      if (opcode === 0x8) {
        this.socket.destroy();
        return;
      }
      if (opcode !== 0x1 && opcode !== 0x0) continue; // pings and binary frames: not used by CDP here
      this.message.push(Buffer.from(payload));
      if ((first & 0x80) === 0) continue;
      const text = Buffer.concat(this.message).toString("utf8");
      this.message = [];
      let parsed: { id?: number } & Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        continue;
      }
      if (typeof parsed.id === "number") {
        this.pending.get(parsed.id)?.resolve(parsed);
        this.pending.delete(parsed.id);
      }
    }
  }
}

function bigLength(length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(length));
  return b;
}
