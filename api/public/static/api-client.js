// How the pages call the API: JSON both ways, and any failure as an ApiError whose message a donor can read.
'use strict';

window.durapayApi = (function () {
  class ApiError extends Error {
    /** status 0 means the server was not reached. */
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function request(method, path, { body, headers = {}, signal } = {}) {
    const init = { method, headers: { accept: 'application/json', ...headers }, signal, cache: 'no-store' };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    let text;
    try {
      res = await fetch(path, init);
      text = await res.text();
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new ApiError(0, 'network_error', 'Cannot reach the server. 无法连接服务器');
    }
    let data;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (!res.ok) {
      const error = data && data.error;
      const message = error && typeof error.message === 'string' ? error.message : `The server answered ${res.status}.`;
      throw new ApiError(res.status, (error && error.code) || 'http_error', message);
    }
    return data;
  }

  return {
    ApiError,
    get: (path, options) => request('GET', path, options),
    post: (path, body, options) => request('POST', path, { ...options, body }),
  };
})();
