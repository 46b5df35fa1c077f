/**
 * The `gguf` Python package's view of a file (llama.cpp's own reader,
 * gguf-py) in a shape our reader's view can be compared with: every key with
 * its value types and value (long arrays and strings as sha256 of their
 * elements), every tensor's name, type, shape and absolute offset.
 */
import { createHash } from "node:crypto";

import type { GgufFile } from "../../src/gguf/read.js";
import { GgufValueType } from "../../src/gguf/types.js";
import { GgufStringArray, type GgufNumericArray } from "../../src/gguf/value.js";
import { runPython } from "./python-gguf.js";

export interface KvView {
  key: string;
  types: number[];
  value?: number | boolean;
  count?: number;
  sha256?: string;
}

export interface TensorView {
  name: string;
  type: number;
  shape: number[];
  offset: number;
  nbytes: number;
}

export interface FileView {
  kv: KvView[];
  tensors: TensorView[];
}

const SCRIPT = String.raw`
import gguf, hashlib, json, sys
r = gguf.GGUFReader(sys.argv[1])
out = {"kv": [], "tensors": []}
for f in r.fields.values():
    if f.name.startswith("GGUF."):
        continue
    t = [int(x) for x in f.types]
    e = {"key": f.name, "types": t}
    if t[0] == 9:
        h = hashlib.sha256()
        for i in f.data:
            b = bytes(f.parts[i]) if t[1] == 8 else f.parts[i].tobytes()
            if t[1] == 8:
                h.update(len(b).to_bytes(8, "little"))
            h.update(b)
        e["count"] = len(f.data)
        e["sha256"] = h.hexdigest()
    elif t[0] == 8:
        e["sha256"] = hashlib.sha256(bytes(f.parts[f.data[0]])).hexdigest()
    else:
        v = f.parts[f.data[0]].tolist()[0]
        e["value"] = bool(v) if t[0] == 7 else v
    out["kv"].append(e)
for t in r.tensors:
    out["tensors"].append({"name": t.name, "type": int(t.tensor_type), "shape": [int(x) for x in t.shape],
                           "offset": int(t.data_offset), "nbytes": int(t.n_bytes)})
print(json.dumps(out))
`;

export async function pythonView(path: string): Promise<FileView> {
  return JSON.parse(await runPython(SCRIPT, [path])) as FileView;
}

function sha(...parts: Uint8Array[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

function u64le(n: number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** Our reader's view in the same shape. */
export function ourView(file: GgufFile): FileView {
  const kv: KvView[] = file.kv.map((e) => {
    if (e.type === GgufValueType.ARRAY) {
      const types = [e.type, e.itemType!];
      if (e.value instanceof GgufStringArray) {
        const h = createHash("sha256");
        for (let i = 0; i < e.value.length; i++) {
          const b = e.value.bytesAt(i);
          h.update(u64le(b.length));
          h.update(b);
        }
        return { key: e.key, types, count: e.value.length, sha256: h.digest("hex") };
      }
      const a = e.value as GgufNumericArray;
      return { key: e.key, types, count: a.length, sha256: sha(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)) };
    }
    if (e.type === GgufValueType.STRING) {
      return { key: e.key, types: [e.type], sha256: sha(e.rawString ?? Buffer.from(e.value as string, "utf8")) };
    }
    const v = e.value;
    return { key: e.key, types: [e.type], value: typeof v === "bigint" ? Number(v) : (v as number | boolean) };
  });
  const tensors = file.tensors.map((t) => ({ name: t.name, type: t.type, shape: [...t.dims], offset: t.offset, nbytes: t.size }));
  return { kv, tensors };
}
