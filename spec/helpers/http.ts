// fetch for specs, one TCP connection per request. Node's fetch keeps connections alive and
// reuses an idle one; HAProxy (and Consul) may close that idle connection just as the next
// request is written on it, which failed a CI run with "fetch failed: other side closed".
// `Connection: close` makes undici open a fresh connection for each request and close it after
// the response, so no request is ever written on a connection the server has dropped. Nothing
// is retried: a POST or PUT goes out exactly once.

/** fetch(url, init) on a connection of its own, with init's headers plus `Connection: close`. */
export function fetchOnce(url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('Connection', 'close');
  return fetch(url, { ...init, headers });
}
