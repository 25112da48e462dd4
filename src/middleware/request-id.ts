/**
 * X-Request-Id: a client's id is kept when it is a sane token (so traces join
 * up across hops), otherwise a new one is made. Anything else a client sends
 * there could end up in logs, so it is not trusted.
 */
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export function requestIdFor(request: Request): string {
  const given = request.headers.get("x-request-id");
  return given && ACCEPTABLE_REQUEST_ID.test(given) ? given : crypto.randomUUID();
}
