import { ErrorCode, RegistryError } from '../errors.js';
import type { ExecutionOutcome, ExecutionRequest, Executor } from './executor.types.js';
import { charsetOf, hostOf, mediaType, readRequestTemplate, templateProblem } from './http.request.js';
import { runStreamingCall } from './http.stream.js';

const METHODS = ['GET', 'POST'];
const LINE_TYPES = new Set(['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines']);
const DEFAULT_CHUNK_SIZE = 4096;

/** Turns the bytes of a response into chunks; `end` flushes and returns the call's result. */
interface ChunkReader {
  feed(bytes: Uint8Array): void;
  end(): unknown;
}

/**
 * Calls a UTCP `streamable_http` tool: the request is shaped as for `http` (`header_fields` arguments
 * become headers, the `body_field` argument the body encoded per `content_type`, `{name}` URL
 * placeholders are filled, every other argument is a query parameter; template headers and `auth`
 * applied), sent with `http_method` (GET or POST; GET when left out, as the reference and the
 * registry's template schema). The chunked answer is read as it arrives, by its content type:
 * newline-delimited JSON (`application/x-ndjson`, `application/ndjson`, `application/jsonl`,
 * `application/x-jsonlines`) gives one chunk per non-blank line; `application/json` (or `+json`) is
 * one document, whose value is both the one chunk and the result; anything else gives text chunks as
 * they arrive, cut into pieces of at most `chunk_size` bytes (a character cut in two goes with the
 * later piece). Every chunk goes to `request.onChunk`; the result is the array of chunks (the document
 * itself for JSON). The deadline is the smaller of `timeoutMs` and the template's `timeout` (ms).
 *
 * Differences from python-utcp's StreamableHttpCommunicationProtocol: non-JSON bodies are text chunks
 * (UTF-8, or the charset of the content type) collected in an array, not bytes concatenated into one
 * value; a body that declares JSON but does not parse (a document, or one NDJSON line) is
 * EXECUTION_FAILED (`invalid_json`) instead of being passed on raw. Redirects are refused (a 3xx is
 * EXECUTION_FAILED `http_status`), as in the reference. Throws EGRESS_DENIED, UPSTREAM_TIMEOUT,
 * UPSTREAM_TOO_LARGE (more than `maxBytes` in all), UPSTREAM_UNAVAILABLE (also when cancelled through
 * `request.signal`, `cancelled: true`), BAD_USER_INPUT, EXECUTION_FAILED (`reason`: `http_status`,
 * `invalid_json`, `invalid_template`); messages hold no secret, header value, query string or body text
 * of a 2xx answer.
 */
export const executeStreamableHttp: Executor = async (request: ExecutionRequest): Promise<ExecutionOutcome> => {
  const invalid = templateProblem(request, 'streamable_http', { reason: 'invalid_template' });
  const template = readRequestTemplate(request, 'streamable_http', { bodyField: null, contentType: 'application/octet-stream' }, invalid);
  const { http_method: declared, chunk_size: chunkSize, timeout } = request.callTemplate;
  const method = typeof declared === 'string' ? declared.toUpperCase() : 'GET';
  if (!METHODS.includes(method)) throw invalid('http_method is not GET or POST');
  const maxChunk = positiveInteger(chunkSize) ?? DEFAULT_CHUNK_SIZE;
  const timeoutMs = Math.min(request.timeoutMs, positiveInteger(timeout) ?? Number.POSITIVE_INFINITY);

  let reader: ChunkReader | undefined;
  let result: unknown;
  const bytes = await runStreamingCall(request, template, { method, timeoutMs }, (prepared, emit) => {
    const host = hostOf(prepared.url.href);
    const fail = (what: string) => new RegistryError(ErrorCode.EXECUTION_FAILED, `Tool "${request.toolName}" failed: "${host}" sent ${what}`, { reason: 'invalid_json', host });
    return {
      onResponse: (headers) => {
        reader = chunkReader(headers, { maxChunk, emit, fail });
      },
      onData: (data) => reader!.feed(data),
      onEnd: () => {
        result = reader!.end();
      },
    };
  });
  return { result, bytes };
};

function positiveInteger(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

interface ReaderContext {
  maxChunk: number;
  emit: (chunk: unknown) => void;
  fail: (what: string) => RegistryError;
}

function chunkReader(headers: Headers, context: ReaderContext): ChunkReader {
  const type = mediaType(headers);
  if (LINE_TYPES.has(type)) return lineReader(context);
  if (type === 'application/json' || type.endsWith('+json')) return documentReader(context);
  return textReader(context, charsetOf(headers));
}

/** One JSON value per non-blank line; a line that is not JSON fails the call. */
function lineReader({ emit, fail }: ReaderContext): ChunkReader {
  const decoder = new TextDecoder('utf-8');
  const chunks: unknown[] = [];
  let pending = '';
  let line = 0;
  const take = (text: string) => {
    line++;
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw fail(`line ${line} of a newline-delimited JSON stream that is not JSON`);
    }
    chunks.push(value);
    emit(value);
  };
  const split = (text: string) => {
    const lines = (pending + text).split('\n');
    pending = lines.pop()!;
    for (const entry of lines) take(entry);
  };
  return {
    feed: (bytes) => split(decoder.decode(bytes, { stream: true })),
    end: () => {
      split(decoder.decode());
      take(pending);
      return chunks;
    },
  };
}

/** One JSON document, read whole; it is the one chunk and the result. */
function documentReader({ emit, fail }: ReaderContext): ChunkReader {
  const parts: Uint8Array[] = [];
  return {
    feed: (bytes) => parts.push(bytes),
    end: () => {
      let value: unknown;
      try {
        value = JSON.parse(new TextDecoder('utf-8').decode(Buffer.concat(parts)));
      } catch {
        throw fail('an application/json body that is not JSON');
      }
      emit(value);
      return value;
    },
  };
}

/** Text as it arrives, decoded from pieces of at most `maxChunk` bytes (never splitting a character). */
function textReader({ maxChunk, emit }: ReaderContext, charset: string | undefined): ChunkReader {
  const decoder = decoderFor(charset);
  const chunks: string[] = [];
  const push = (text: string) => {
    if (text === '') return;
    chunks.push(text);
    emit(text);
  };
  return {
    feed: (bytes) => {
      for (let offset = 0; offset < bytes.byteLength; offset += maxChunk) {
        push(decoder.decode(bytes.subarray(offset, offset + maxChunk), { stream: true }));
      }
    },
    end: () => {
      push(decoder.decode());
      return chunks;
    },
  };
}

/** A streaming decoder for `charset`, UTF-8 when it is unknown. */
function decoderFor(charset: string | undefined) {
  try {
    return new TextDecoder(charset ?? 'utf-8');
  } catch {
    return new TextDecoder('utf-8');
  }
}
