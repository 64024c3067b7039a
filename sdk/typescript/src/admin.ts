/**
 * `Admin`: the admin API (`/admin/v1`) — accounts, keys, credits and usage. The client's key must
 * be an admin key (the gateway's `TOOLWIRE_ADMIN_KEY`); any other key gets `ForbiddenError`.
 * Reached as `toolwire.admin`; it shares the client's transport, timeout and error handling.
 */

import { type Call, type CallOptions, item, object } from "./http.js";
import { at, ROUTES } from "./routes.js";
import type {
  Account,
  Amount,
  ApiKey,
  AuditPage,
  AuditQuery,
  CreatedKey,
  ReloadResult,
  UsageQuery,
  UsageRow,
} from "./types.js";

type Send = <T>(call: Call<T>, options?: CallOptions) => Promise<T>;

export interface CreateKeyOptions {
  /** A label for the key (default `"default"`). */
  name?: string;
  /** Scope patterns (`"calc.*"`, `"search.web"`); default `["*"]`, every tool. */
  scopes?: readonly string[];
}

export class Admin {
  readonly #send: Send;

  constructor(send: Send) {
    this.#send = send;
  }

  /** A new account with `credits` (default 0). */
  createAccount(name: string, credits: Amount = 0, options?: CallOptions): Promise<Account> {
    const call: Call<Account> = {
      ...at(ROUTES.createAccount),
      parse: item<Account>("account"),
      body: { name, credits },
    };
    return this.#send(call, options);
  }

  listAccounts(options?: CallOptions): Promise<Account[]> {
    return this.#send({ ...at(ROUTES.listAccounts), parse: item<Account[]>("accounts") }, options);
  }

  /** One account; `NotFoundError` for an unknown id. */
  getAccount(accountId: string, options?: CallOptions): Promise<Account> {
    return this.#send(
      {
        ...at(ROUTES.getAccount, { account_id: accountId }),
        parse: item<Account>("account"),
      },
      options,
    );
  }

  /** A new API key for the account: `{key, secret}`; the secret is shown this once. */
  createKey(
    accountId: string,
    key: CreateKeyOptions = {},
    options?: CallOptions,
  ): Promise<CreatedKey> {
    const body = { name: key.name ?? "default", scopes: [...(key.scopes ?? ["*"])] };
    const call: Call<CreatedKey> = {
      ...at(ROUTES.createKey, { account_id: accountId }),
      parse: object<CreatedKey>,
      body,
    };
    return this.#send(call, options);
  }

  /** Every key, or one account's keys. */
  listKeys(accountId?: string, options?: CallOptions): Promise<ApiKey[]> {
    const call: Call<ApiKey[]> = {
      ...at(ROUTES.listKeys),
      parse: item<ApiKey[]>("keys"),
      query: { account_id: accountId },
    };
    return this.#send(call, options);
  }

  /** Revoke a key: from now on it gets `UnauthenticatedError`. */
  revokeKey(keyId: string, options?: CallOptions): Promise<ApiKey> {
    return this.#send(
      { ...at(ROUTES.revokeKey, { key_id: keyId }), parse: item<ApiKey>("key") },
      options,
    );
  }

  /** Add credits (a positive amount); resolves to the new balance, in credits. */
  grant(accountId: string, amount: Amount, note?: string, options?: CallOptions): Promise<number> {
    const body: Record<string, unknown> = { amount };
    if (note !== undefined) body.note = note;
    const call: Call<number> = {
      ...at(ROUTES.grant, { account_id: accountId }),
      parse: item<number>("balance"),
      body,
    };
    return this.#send(call, options);
  }

  /** The account's balance, in credits. */
  balance(accountId: string, options?: CallOptions): Promise<number> {
    return this.#send(
      {
        ...at(ROUTES.balance, { account_id: accountId }),
        parse: item<number>("balance"),
      },
      options,
    );
  }

  /** Calls and credits per day, account, key and operation, filtered by `query`. */
  usage(query: UsageQuery = {}, options?: CallOptions): Promise<UsageRow[]> {
    const call: Call<UsageRow[]> = {
      ...at(ROUTES.usage),
      parse: item<UsageRow[]>("usage"),
      query: {
        account_id: query.accountId,
        key_id: query.keyId,
        tool: query.tool,
        since: query.since,
        until: query.until,
      },
    };
    return this.#send(call, options);
  }

  /** One page of audit records, newest first, filtered by `query`. */
  audit(query: AuditQuery = {}, options?: CallOptions): Promise<AuditPage> {
    const call: Call<AuditPage> = {
      ...at(ROUTES.audit),
      parse: object<AuditPage>,
      query: {
        account_id: query.accountId,
        key_id: query.keyId,
        tool: query.tool,
        outcome: query.outcome,
        since: query.since,
        until: query.until,
        limit: query.limit === undefined ? undefined : String(query.limit),
        cursor: query.cursor,
      },
    };
    return this.#send(call, options);
  }

  /**
   * Re-read the gateway's catalog file and serve it without a restart; every instance sharing
   * its state backend is signalled to do the same. An invalid file rejects with
   * `InvalidRequestError` whose `details` hold `reason: "invalid_catalog"`, `location`
   * (file:line and YAML path) and the `version` still served.
   */
  reload(options?: CallOptions): Promise<ReloadResult> {
    return this.#send({ ...at(ROUTES.reload), parse: object<ReloadResult> }, options);
  }
}
