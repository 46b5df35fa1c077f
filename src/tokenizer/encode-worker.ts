/**
 * Worker-thread side of OffThreadEncoder (encode-off-thread.ts): loads the
 * model's tokenizer from its GGUF file once, then encodes each text it is
 * sent, so long tokenizations never block the caller's event loop. Kept a
 * plain module of its own (dist/tokenizer/encode-worker.js): the launcher
 * finds it next to itself, also inside bundles that copy dist/ as it is.
 */
import { parentPort, workerData } from "node:worker_threads";

import { errorCode } from "../errors.js";
import { loadTokenizer, type Tokenizer } from "./tokenizer.js";

export interface EncodeRequest {
  readonly id: number;
  readonly text: string | Uint8Array;
  readonly addSpecial: boolean;
  readonly parseSpecial: boolean;
}

/** The ids (their buffer transferred) with what windowing needs to know, or the error's code and message. */
export type EncodeReply =
  | { readonly id: number; readonly ids: Int32Array; readonly addBos: boolean; readonly bos: number | null }
  | { readonly id: number; readonly error: { readonly code: string | undefined; readonly message: string } };

const path = (workerData as { path: string }).path;
let tokenizer: Tokenizer | undefined;

parentPort!.on("message", (request: EncodeRequest) => {
  let reply: EncodeReply;
  try {
    tokenizer ??= loadTokenizer(path);
    const ids = Int32Array.from(tokenizer.encode(request.text, { addSpecial: request.addSpecial, parseSpecial: request.parseSpecial }));
    reply = { id: request.id, ids, addBos: tokenizer.addBos, bos: tokenizer.special.bos };
  } catch (error) {
    reply = { id: request.id, error: { code: errorCode(error), message: error instanceof Error ? error.message : String(error) } };
  }
  parentPort!.postMessage(reply, "ids" in reply ? [reply.ids.buffer as ArrayBuffer] : []);
});
