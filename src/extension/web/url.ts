// The browser build's `url` module (scripts/build.mjs aliases it):
// @vscode/debugadapter takes URL from it, which browsers have built in.

export const URL = globalThis.URL;
export const URLSearchParams = globalThis.URLSearchParams;

export default { URL, URLSearchParams };
