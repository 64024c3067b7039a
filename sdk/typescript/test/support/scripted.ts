/** A scripted HTTP server on 127.0.0.1: answers each request with what `answer` returns, for
 *  what a real gateway never sends (a proxy's HTML error page, a malformed success, silence). */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export interface Scripted {
  url: string;
  requests: { method: string; url: string; headers: IncomingMessage["headers"]; body: string }[];
  close(): Promise<void>;
}

export async function scriptedServer(
  answer: (request: IncomingMessage, body: string, response: ServerResponse) => void,
): Promise<Scripted> {
  const requests: Scripted["requests"] = [];
  const server: Server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on("end", () => {
      requests.push({
        method: request.method ?? "",
        url: request.url ?? "",
        headers: request.headers,
        body,
      });
      answer(request, body, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
