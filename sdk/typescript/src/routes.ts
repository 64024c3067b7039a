/**
 * Every HTTP route the SDK calls, once, as data: method and path template as `/openapi.json`
 * spells them. `contract.ts` checks at compile time that each documented route exists in the
 * generated OpenAPI types with that method, so a renamed or removed route breaks the build.
 */

export const ROUTES = {
  execute: { method: "POST", path: "/api/v1/execute", documented: true },
  tools: { method: "GET", path: "/api/v1/tools", documented: true },
  tool: { method: "GET", path: "/api/v1/tools/{name}", documented: true },
  me: { method: "GET", path: "/api/v1/me", documented: true },
  openaiToolCalls: { method: "POST", path: "/api/v1/openai/tool_calls", documented: true },
  createAccount: { method: "POST", path: "/admin/v1/accounts", documented: true },
  listAccounts: { method: "GET", path: "/admin/v1/accounts", documented: true },
  getAccount: { method: "GET", path: "/admin/v1/accounts/{account_id}", documented: true },
  createKey: { method: "POST", path: "/admin/v1/accounts/{account_id}/keys", documented: true },
  grant: { method: "POST", path: "/admin/v1/accounts/{account_id}/credits", documented: true },
  balance: { method: "GET", path: "/admin/v1/accounts/{account_id}/balance", documented: true },
  listKeys: { method: "GET", path: "/admin/v1/keys", documented: true },
  revokeKey: { method: "DELETE", path: "/admin/v1/keys/{key_id}", documented: true },
  /** Served by the gateway (toolwire/inbound/admin_billing.py) but not yet in /openapi.json. */
  usage: { method: "GET", path: "/admin/v1/usage", documented: true },
  audit: { method: "GET", path: "/admin/v1/audit", documented: true },
  reload: { method: "POST", path: "/admin/v1/reload", documented: true },
} as const;

export type RouteName = keyof typeof ROUTES;
export type Route = (typeof ROUTES)[RouteName];

/** The route's path with each `{param}` replaced by its percent-encoded value. */
export function pathOf(route: Route, params: Record<string, string> = {}): string {
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new TypeError(`missing path parameter '${name}'`);
    return encodeURIComponent(value);
  });
}

/** The `method` and `path` of a call to `route`. */
export function at(
  route: Route,
  params?: Record<string, string>,
): { method: Route["method"]; path: string } {
  return { method: route.method, path: pathOf(route, params) };
}
