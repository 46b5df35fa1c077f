/**
 * Checks a JSON value against a JSON Schema that uses only the keywords
 * shortgpt's own schemas use (SCORE_REPORT_SCHEMA): type, enum, required,
 * properties, additionalProperties: false, items, minItems, uniqueItems,
 * minimum, maximum. The schema stays the one source of truth for what a
 * scores file may hold; a full validator (ajv, a devDependency that the tests
 * compare this against) would be a runtime dependency for ten keywords. A
 * schema with any other keyword is refused, so the two cannot drift apart
 * silently.
 */

type Schema = { readonly [keyword: string]: unknown };

const KEYWORDS = new Set([
  "$schema", "$id", "title", "description",
  "type", "enum", "required", "properties", "additionalProperties", "items", "minItems", "uniqueItems", "minimum", "maximum",
]);

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function matchesType(value: unknown, type: string): boolean {
  const actual = typeOf(value);
  return actual === type || (type === "number" && actual === "integer");
}

/** The JSON text of a value for a message, cut short. */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * The first place where `value` breaks `schema`, as "path: what was expected",
 * or undefined when it conforms.
 */
export function schemaProblem(value: unknown, schema: Schema, path = "(root)"): string | undefined {
  for (const keyword of Object.keys(schema)) {
    if (!KEYWORDS.has(keyword)) throw new Error(`schemaProblem: keyword '${keyword}' is not supported`);
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((t) => matchesType(value, t))) return `${path}: ${show(value)} is not ${types.join(" or ")}`;
  }
  if (schema.enum !== undefined && !(schema.enum as unknown[]).some((e) => e === value)) {
    return `${path}: ${show(value)} is not one of ${(schema.enum as unknown[]).map((e) => JSON.stringify(e)).join(", ")}`;
  }
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && !(value >= schema.minimum)) return `${path}: ${value} is below ${schema.minimum}`;
    if (typeof schema.maximum === "number" && !(value <= schema.maximum)) return `${path}: ${value} is above ${schema.maximum}`;
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === "number" && value.length < schema.minItems) return `${path}: needs at least ${schema.minItems} items`;
    if (schema.uniqueItems === true) {
      const seen = new Set(value.map((v) => JSON.stringify(v)));
      if (seen.size !== value.length) return `${path}: items must be unique`;
    }
    if (schema.items !== undefined) {
      for (let i = 0; i < value.length; i++) {
        const problem = schemaProblem(value[i], schema.items as Schema, `${path}[${i}]`);
        if (problem) return problem;
      }
    }
  }
  if (typeOf(value) === "object") {
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const key of (schema.required ?? []) as string[]) {
      if (!Object.prototype.hasOwnProperty.call(object, key)) return `${path}: '${key}' is missing`;
    }
    for (const key of Object.keys(object)) {
      // Own properties only: "constructor" must not find Object's.
      const sub = Object.prototype.hasOwnProperty.call(properties, key) ? properties[key] : undefined;
      if (!sub) {
        if (schema.additionalProperties === false) return `${path}: unexpected property '${key}'`;
        continue;
      }
      const problem = schemaProblem(object[key], sub, path === "(root)" ? key : `${path}.${key}`);
      if (problem) return problem;
    }
  }
  return undefined;
}
