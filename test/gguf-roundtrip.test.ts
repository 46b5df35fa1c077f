/**
 * Read -> write unchanged must give a byte-identical file, for every GGUF we
 * can find (../shared/data models and vocabularies, both PyPI models), and our
 * reader must agree with the gguf Python package on every key and tensor.
 */
import { createHash } from "node:crypto";
import { createReadStream, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";

import { afterAll, describe, expect, it } from "vitest";

import { readGguf } from "../src/gguf/read.js";
import { headerSpecOf, writeGguf } from "../src/gguf/write.js";
import { GEMMA3_PATH, SHARED_DATA, SMOLLM2_PATH, sharedData } from "./helpers/data.js";
import { ourView, pythonView } from "./helpers/gguf-python.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-roundtrip-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function sha256(path: string): Promise<string> {
  const h = createHash("sha256");
  await pipeline(createReadStream(path), h);
  return h.digest("hex");
}

const sharedFiles = SHARED_DATA
  ? [
      sharedData("models/stories260K.gguf"),
      ...readdirSync(sharedData("tokenizer"))
        .filter((f) => f.endsWith(".gguf"))
        .map((f) => sharedData(`tokenizer/${f}`)),
    ]
  : [];
const files = [SMOLLM2_PATH, GEMMA3_PATH, ...sharedFiles];

describe.skipIf(!SHARED_DATA)("../shared/data is present", () => {
  it("has the model and at least a dozen vocabularies", () => expect(sharedFiles.length).toBeGreaterThan(12));
});

describe.each(files.map((path) => ({ path, name: path.split("/").pop()! })))("$name", ({ path }) => {
  it("is byte-identical after read -> write", async () => {
    const file = readGguf(path);
    const out = join(dir, "copy.gguf");
    const layout = await writeGguf(out, headerSpecOf(file), file.tensors.map((t) => ({ path, offset: t.offset })));
    expect(layout.fileSize).toBe(statSync(path).size);
    expect(layout.dataOffset).toBe(file.dataOffset);
    expect(await sha256(out)).toBe(await sha256(path));
  });

  it("reads the same keys, types, values and tensors as gguf-py", async () => {
    const ours = ourView(readGguf(path));
    const theirs = await pythonView(path);
    expect(ours.kv.map((k) => k.key)).toEqual(theirs.kv.map((k) => k.key));
    expect(ours.kv).toEqual(theirs.kv);
    expect(ours.tensors).toEqual(theirs.tensors);
  });
});
