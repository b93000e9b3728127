import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

// main.js runs only in the window; a name it imports that a module does not export would
// stop the page before it draws. Check every import here instead.
test("every name the window imports is exported", async () => {
  const main = readFileSync(new URL("../main.js", import.meta.url), "utf8");
  const imports = [...main.matchAll(/import\s*\{([^}]*)\}\s*from\s*"(\.\/lib\/[^"]+)"/g)];
  assert.ok(imports.length >= 5, `only ${imports.length} imports found`);
  for (const [, names, path] of imports) {
    const module = await import(new URL(`../${path.slice(2)}`, import.meta.url));
    for (const name of names.split(",").map((n) => n.trim()).filter(Boolean)) {
      assert.ok(name in module, `${path} does not export ${name}`);
    }
  }
});
