import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The catalog floor: a bare `node:http` server that reads each request body and answers with the
 * registry's captured response bytes (sent by the harness) and its content type. Nothing else.
 */
process.once('message', (message: { body: string; contentType: string }) => {
  const body = Buffer.from(message.body, 'base64');
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': message.contentType, 'content-length': body.length });
      response.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
});
process.on('SIGTERM', () => process.exit(0));
process.send!({ ready: true });
