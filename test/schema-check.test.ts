/**
 * schemaProblem (the runtime check of scores files against
 * SCORE_REPORT_SCHEMA) agrees with ajv, a full JSON Schema validator, on a
 * valid report and on every way of spoiling one that the schema forbids.
 */
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";

import { schemaProblem } from "../src/report/schema-check.js";
import { SCORE_REPORT_SCHEMA } from "../src/report/score-schema.js";

const layer = (index: number) => ({ index, bi: 0.1 * (index + 1), rm: 0.5, angular: index < 2 ? 0.3 : null, angularAllPositions: index < 2 ? 0.2 : null });
const valid = {
  model: "m.gguf",
  architecture: "llama",
  blockCount: 3,
  metric: "bi",
  span: 1,
  ctx: 256,
  windows: 4,
  tokens: 1024,
  calibration: { sources: ["a.txt"], characters: 100, textTokens: 2000 },
  layers: [0, 1, 2].map(layer),
  order: [0, 1, 2],
  seconds: 1.5,
};

type Doc = Record<string, unknown> & { layers: Record<string, unknown>[]; calibration: Record<string, unknown> };
const spoilers: [string, (d: Doc) => void][] = [
  ["nothing (valid)", () => {}],
  ["no calibration (optional)", (d) => delete (d as Record<string, unknown>).calibration],
  ["metric unknown", (d) => (d.metric = "magic")],
  ["metric an object", (d) => (d.metric = { a: 1 })],
  ["ctx not an integer", (d) => (d.ctx = 2.5)],
  ["ctx below 2", (d) => (d.ctx = 1)],
  ["blockCount a string", (d) => (d.blockCount = "3")],
  ["missing order", (d) => delete (d as Record<string, unknown>).order],
  ["extra property", (d) => (d.extra = true)],
  ["extra property named constructor", (d) => ((d as Record<string, unknown>)["constructor"] = 1)],
  ["bi above 2", (d) => (d.layers[0]!.bi = 2.5)],
  ["bi null", (d) => (d.layers[0]!.bi = null)],
  ["angular null (allowed)", (d) => (d.layers[0]!.angular = null)],
  ["angular above 1", (d) => (d.layers[0]!.angular = 1.5)],
  ["layer missing rm", (d) => delete d.layers[1]!.rm],
  ["empty layers", (d) => (d.layers = [])],
  ["duplicate order entries", (d) => (d.order = [0, 0, 1])],
  ["negative order entry", (d) => (d.order = [-1])],
  ["source not a string", (d) => (d.calibration.sources = ["a", 2])],
  ["calibration extra key", (d) => (d.calibration.x = 1)],
  ["negative seconds", (d) => (d.seconds = -1)],
  ["not an object", (d) => Object.assign(d, { __replace: [1, 2] })],
];

describe("schemaProblem agrees with ajv", () => {
  const ajv = new Ajv2020.default({ allErrors: true, strict: true });
  const validate = ajv.compile(SCORE_REPORT_SCHEMA);
  for (const [name, spoil] of spoilers) {
    it(name, () => {
      const doc = structuredClone(valid) as unknown as Doc;
      spoil(doc);
      const value = "__replace" in doc ? doc.__replace : doc;
      const problem = schemaProblem(value, SCORE_REPORT_SCHEMA);
      expect(problem === undefined, problem).toBe(validate(value));
    });
  }

  it("refuses a schema with a keyword it does not implement", () => {
    expect(() => schemaProblem(1, { type: "number", multipleOf: 2 })).toThrow(/multipleOf/);
  });
});
