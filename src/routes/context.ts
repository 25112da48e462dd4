/** What every route handler receives besides the request. */
import type { IRequest } from "itty-router";
import type { Config } from "../config";

export interface RequestMeta {
  readonly config: Config;
  readonly requestId: string;
  readonly receivedAt: number;
  /** Set by the proxy route, for the access log. */
  service?: string;
}

export type RouteArgs = [env: Env, ctx: ExecutionContext, meta: RequestMeta];
export type Handler = (request: IRequest, ...args: RouteArgs) => Promise<Response | undefined> | Response | undefined;

export function json(body: unknown, status = 200, headers?: HeadersInit): Response {
  const response = new Response(JSON.stringify(body), { status, headers });
  response.headers.set("content-type", "application/json; charset=utf-8");
  return response;
}
