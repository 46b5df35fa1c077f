/**
 * English calibration text from the npm package nlp-corpus (MIT): 100 JSON
 * documents of ~1000 sentences each, from many registers (TV transcripts,
 * speeches, SMS, fiction, reviews). Deterministic: documents are taken in
 * order, sentences joined with spaces, paragraphs of 8 sentences.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { ShortgptError } from "../errors.js";
import type { CalibrationText } from "./calibration.js";

export const NLP_CORPUS_DOCUMENTS = 100;

function documentPath(index: number): string {
  // The package exports only its entry point; the documents sit two folders up from it.
  const entry = fileURLToPath(import.meta.resolve("nlp-corpus"));
  return fileURLToPath(new URL(`../../builds/doc-${index}.json`, `file://${entry}`));
}

export function nlpCorpusDocument(index: number): string[] {
  if (!Number.isInteger(index) || index < 0 || index >= NLP_CORPUS_DOCUMENTS) {
    throw new ShortgptError("ERR_INVALID_ARG", `nlp-corpus has documents 0-${NLP_CORPUS_DOCUMENTS - 1}, not ${index}`);
  }
  const sentences = JSON.parse(readFileSync(documentPath(index), "utf8")) as unknown;
  if (!Array.isArray(sentences)) throw new ShortgptError("ERR_CALIBRATION_JSON", `nlp-corpus document ${index} is not a list of sentences`);
  return sentences.filter((s): s is string => typeof s === "string");
}

/** Text of the given documents (default: 0, 1, 2, … until maxCharacters). */
export function nlpCorpusText(options: { documents?: readonly number[]; maxCharacters?: number } = {}): CalibrationText {
  const max = options.maxCharacters ?? Number.POSITIVE_INFINITY;
  const docs = options.documents ?? Array.from({ length: NLP_CORPUS_DOCUMENTS }, (_, i) => i);
  const paragraphs: string[] = [];
  let characters = 0;
  const used: number[] = [];
  outer: for (const d of docs) {
    const sentences = nlpCorpusDocument(d);
    used.push(d);
    for (let i = 0; i < sentences.length; i += 8) {
      const paragraph = sentences.slice(i, i + 8).join(" ");
      paragraphs.push(paragraph);
      characters += paragraph.length + 2;
      if (characters >= max) break outer;
    }
  }
  return { text: paragraphs.join("\n\n"), sources: [`nlp-corpus (documents ${formatDocs(used)})`] };
}

function formatDocs(list: readonly number[]): string {
  if (list.length <= 3) return list.join(", ");
  return `${list[0]}…${list[list.length - 1]} (${list.length})`;
}
