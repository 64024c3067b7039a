/**
 * toolwire: the TypeScript client of the toolwire MCP gateway.
 *
 * `Toolwire` runs tools (`execute`), lists the catalog (`tools`, in any platform's format), runs
 * a model's tool calls (`runOpenAIToolCalls`, `runAnthropicToolUses`) and administers accounts
 * (`admin`). `runOpenAIToolLoop`, `aiSdkTools` and `Toolwire.mcpEndpoint` hand the catalog to the
 * OpenAI SDK, the Vercel AI SDK and the MCP TypeScript SDK. Errors are the `ToolwireError` tree.
 */

export { Admin, type CreateKeyOptions } from "./admin.js";
export { type AiSdkTool, type AiSdkToolsOptions, aiSdkTools } from "./ai-sdk.js";
export {
  type AnthropicToolUsesInput,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_URL,
  type ExecuteOptions,
  type McpEndpoint,
  type OpenAIToolCallsInput,
  type ToolsQuery,
  Toolwire,
  type ToolwireOptions,
  VERSION,
} from "./client.js";
export {
  AbortedError,
  BudgetExceededError,
  CODE_FOR_STATUS,
  ConflictError,
  ERRORS_BY_CODE,
  type ErrorFields,
  errorFor,
  ForbiddenError,
  InsufficientCreditsError,
  InternalError,
  InvalidArgumentsError,
  InvalidRequestError,
  MissingClientCapabilityError,
  NotFoundError,
  PayloadTooLargeError,
  PolicyDeniedError,
  RateLimitedError,
  ToolNotFoundError,
  ToolwireError,
  type ToolwireErrorClass,
  TransportError,
  TransportTimeoutError,
  UnauthenticatedError,
  UnavailableError,
  UpstreamError,
  UpstreamTimeoutError,
} from "./errors.js";
export type {
  components as OpenAPIComponents,
  paths as OpenAPIPaths,
} from "./generated/openapi.js";
export type { Call, CallOptions } from "./http.js";
export {
  type AssistantMessage,
  type ChatCompletionsClient,
  type OpenAIToolLoopOptions,
  type OpenAIToolLoopResult,
  runOpenAIToolLoop,
} from "./openai.js";
export type * from "./types.js";
