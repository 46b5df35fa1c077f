#!/usr/bin/env node
// Prints one group of native/sources.json (portable | avx2 | avx512 | cuda),
// space-separated and relative to the repository root, for binding.gyp's
// command expansion. CMakeLists.txt reads the same JSON directly.
"use strict";
const fs = require("fs");
const path = require("path");

const group = process.argv[2];
const list = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "native", "sources.json"), "utf8"));
if (!Array.isArray(list[group])) {
  process.stderr.write(`native-sources: unknown group '${group}'\n`);
  process.exit(2);
}
process.stdout.write(list[group].join(" "));
