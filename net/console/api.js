// The host's HTTP API as the console calls it: with the signed-in identity's
// token, so the host authorizes each call exactly as it would the CLI's.

const tokenKey = 'orrery.console.token';
const identityKey = 'orrery.console.identity';

export const session = {
  get token() { return localStorage.getItem(tokenKey); },
  get identity() { return localStorage.getItem(identityKey); },
  save(token, identity) {
    localStorage.setItem(tokenKey, token);
    localStorage.setItem(identityKey, identity);
  },
  clear() {
    localStorage.removeItem(tokenKey);
    localStorage.removeItem(identityKey);
  },
};

/** An answer other than 2xx: its status and the host's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message || `the host answered ${status}`);
    this.status = status;
  }
}

/**
 * JSON, keeping integers past 2^53 (u64, i128, ...) exact: they stay the
 * digits the host sent, as strings, rather than rounded numbers.
 */
export function parseJson(text) {
  return JSON.parse(text, (_key, value, context) =>
    typeof value === 'number' && !Number.isSafeInteger(value) && /^-?\d+$/.test(context?.source ?? '') ? context.source : value);
}

/** Calls the API; answers the parsed JSON (or text with `as: 'text'`). */
export async function api(path, { method = 'GET', body, as = 'json', token = session.token, signal } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const reply = await fetch(path, { method, body, headers, signal });
  if (!reply.ok) {
    const message = (await reply.text()).trim();
    // The session's token expired or the host no longer takes it: sign in again.
    if (reply.status === 401 && token && token === session.token && message.startsWith('invalid token')) {
      session.clear();
      window.dispatchEvent(new Event('orrery-signed-out'));
    }
    throw new ApiError(reply.status, message);
  }
  if (as === 'response') return reply;
  const text = await reply.text();
  return as === 'json' ? (text ? parseJson(text) : null) : text;
}

/** The identity a token stands for, as the host reads it; throws when the host refuses it. */
export async function identityOf(token) {
  const reply = await api('/v1/identity/websocket-token', { method: 'POST', token, as: 'response' });
  return reply.headers.get('spacetime-identity');
}

/** Runs SQL; answers the statements' results ({schema, rows, total_duration_micros}). */
export function sql(database, text) {
  return api(`/v1/database/${encodeURIComponent(database)}/sql`, { method: 'POST', body: text });
}

/** Reads a database's log as it grows, calling `onLine` with each parsed line, until `signal` aborts. */
export async function followLog(database, numLines, onLine, signal) {
  const reply = await api(`/v1/database/${encodeURIComponent(database)}/logs?follow=true&num_lines=${numLines}`,
                          { as: 'response', signal });
  const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    pending += value;
    let end;
    while ((end = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      if (line.trim()) onLine(parseJson(line));
    }
  }
}
