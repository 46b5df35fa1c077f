/**
 * Text from a model file (general.name, metadata keys, the architecture,
 * provenance strings) or from a file name is untrusted: printed raw, an
 * escape sequence in it can rewrite the terminal (clear the screen, set the
 * title, hide text, move the cursor), and bidirectional overrides can make a
 * name read as something else. Every such string goes through terminalSafe
 * before the CLI prints it as text; JSON output stays exact (JSON escapes
 * control characters itself).
 */

/**
 * C0 controls, DEL, C1 controls (0x80-0x9f: 0x9b is a one-byte CSI), line and
 * paragraph separators, and the bidi embedding/override/isolate marks.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_KEEPING_NEWLINES = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escape(ch: string): string {
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** `text` with every control or bidi character shown as \xHH / \uHHHH. */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, escape);
}

/** The same, but line breaks stay (for multi-line messages the program itself composed). */
export function terminalSafeLines(text: string): string {
  return text.replace(UNSAFE_KEEPING_NEWLINES, escape);
}
