/**
 * Several isolates of the orchestrator on one plain workerd, each addressable
 * on its own port (scripts/workerd-config.mjs isolatesWorkerdConfig: copies of
 * the bundle sharing the Durable Objects, each with its own module state and
 * routing table), with the reliability defaults (workerd-harness.ts
 * defaultVars) under the given settings. For tests that must say which
 * isolate a request or a connection goes through.
 *
 *   const fleet = new IsolatesOrchestrator({ bundleDir: inject("reliabilityBundleDir"), isolates: 2 });
 *   await fleet.start();
 *   await fetch(`${fleet.baseUrl(1)}/health`);
 *   await fleet.dispose();
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, LOOPBACK } from "../../scripts/lib/ports.mjs";
import { sendSignal, spawnLogged, tail } from "../../scripts/lib/processes.mjs";
import { waitForHttp } from "../../scripts/lib/wait.mjs";
import { compatibilityDate, isolatesWorkerdConfig } from "../../scripts/workerd-config.mjs";
import { defaultVars, projectRoot, sleep } from "./workerd-harness";

export interface IsolatesOptions {
  /** Directory with the bundled orchestrator's index.js (inject("reliabilityBundleDir")). */
  readonly bundleDir: string;
  readonly isolates: number;
  /** Settings over defaultVars. */
  readonly vars?: Readonly<Record<string, string>>;
}

export class IsolatesOrchestrator {
  readonly adminKey = `admin-${randomBytes(18).toString("hex")}`;
  readonly registrationToken = `reg-${randomBytes(18).toString("hex")}`;
  readonly dir: string;
  private ports: number[] = [];
  private child: ChildProcess | null = null;

  constructor(readonly options: IsolatesOptions) {
    this.dir = mkdtempSync(join(tmpdir(), "orchestrator-reliability-isolates-"));
    mkdirSync(join(this.dir, "do-storage"));
    copyFileSync(join(options.bundleDir, "index.js"), join(this.dir, "index.js"));
  }

  /** The address of isolate `i` (0-based). */
  baseUrl(i: number): string {
    const port = this.ports[i];
    if (port === undefined) throw new Error(`no isolate ${i} (${this.ports.length} started)`);
    return `http://${LOOPBACK}:${port}`;
  }

  async start(timeoutMs = 60_000): Promise<void> {
    if (this.child) throw new Error("already running");
    for (let i = 0; i < this.options.isolates; i++) this.ports.push(await freePort());
    const vars = { ...defaultVars(this.adminKey, this.registrationToken), ...this.options.vars };
    const config = join(this.dir, "config.capnp");
    writeFileSync(config, isolatesWorkerdConfig({ host: LOOPBACK, ports: this.ports, storageDir: join(this.dir, "do-storage"), vars, uniqueKeyPrefix: "reliability-isolates", compatibilityDate: compatibilityDate(projectRoot()) }));
    const logFile = join(this.dir, "workerd.log");
    const child = spawnLogged(join(projectRoot(), "node_modules", "@cloudflare", "workerd-linux-64", "bin", "workerd"), ["serve", config, "--experimental"], { logFile, cwd: this.dir });
    this.child = child;
    const killOnExit = () => this.kill();
    process.once("exit", killOnExit);
    child.once("exit", () => process.off("exit", killOnExit));
    const exited = () => {
      if (child.exitCode === null && child.signalCode === null) return false;
      throw new Error(`workerd exited while starting (${child.exitCode ?? child.signalCode}):\n${tail(logFile, 6000)}`);
    };
    for (let i = 0; i < this.ports.length; i++) {
      const answer = await waitForHttp(`${this.baseUrl(i)}/health`, { timeoutMs, cancelled: exited });
      if (!answer.ready) {
        this.kill();
        throw new Error(`isolate ${i} not healthy within ${timeoutMs} ms (${answer.last}):\n${tail(logFile, 6000)}`);
      }
    }
  }

  /** Kills workerd and removes its directory (unless RELIABILITY_KEEP is set). */
  async dispose(): Promise<void> {
    const child = this.child;
    const running = child !== null && child.exitCode === null && child.signalCode === null;
    const gone = running ? new Promise((resolve) => child.once("exit", resolve)) : null;
    this.kill();
    if (gone) await Promise.race([gone, sleep(5_000)]);
    if (process.env.RELIABILITY_KEEP) console.log(`[reliability] kept ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }

  private kill(): void {
    const pid = this.child?.pid;
    this.child = null;
    if (pid !== undefined) sendSignal(pid, "SIGKILL", { group: true });
  }
}
