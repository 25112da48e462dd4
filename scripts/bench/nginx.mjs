/**
 * nginx for a bench run: the upstream (a small static JSON body on two ports,
 * the ceiling row) and a reverse proxy to it (a classic proxy hop), one process.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOST } from "./config.mjs";

/**
 * @param {ReturnType<typeof import("./session.mjs").createSession>} session
 * @param {{ upstreamPort: number, upstreamPort2: number, proxyPort: number }} ports
 */
export async function startNginx(session, { upstreamPort, upstreamPort2, proxyPort }) {
  const dir = join(session.tmpDir, "nginx");
  mkdirSync(join(dir, "temp"), { recursive: true });
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/temp/client;
  proxy_temp_path ${dir}/temp/proxy;
  fastcgi_temp_path ${dir}/temp/fastcgi;
  uwsgi_temp_path ${dir}/temp/uwsgi;
  scgi_temp_path ${dir}/temp/scgi;
  keepalive_requests 100000;
  upstream bench_upstream {
    server ${HOST}:${upstreamPort};
    keepalive 64;
    keepalive_requests 100000;
  }
  # The upstream: a small static JSON body on every path (including /health, for the orchestrator's probes).
  server {
    listen ${HOST}:${upstreamPort};
    listen ${HOST}:${upstreamPort2};
    location / {
      default_type application/json;
      return 200 '{"ok":true,"service":"bench"}\\n';
    }
  }
  # nginx as a reverse proxy to it, over kept-alive upstream connections.
  server {
    listen ${HOST}:${proxyPort};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  const entry = session.startServer("nginx", "nginx", ["-p", dir, "-e", join(dir, "error.log"), "-c", conf], join(dir, "stdout.log"));
  entry.logFile = join(dir, "error.log");
  entry.cpuLabel = "nginx";
  await session.waitUntilReady(entry, `http://${HOST}:${upstreamPort}/`);
  await session.waitUntilReady(entry, `http://${HOST}:${upstreamPort2}/`);
  await session.waitUntilReady(entry, `http://${HOST}:${proxyPort}/`);
  return entry;
}
