// Validates JUnit XML files against Jenkins' JUnit schema with libxml2
// (xmllint-wasm). Usage: node validate-junit.mjs SCHEMA FILE...
// Prints one JSON line per file: {"file", "valid", "errors"}.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.env.MESHCERT_NODE_MODULES, '..', 'package.json'));
const { validateXML } = require('xmllint-wasm');

const [schemaPath, ...files] = process.argv.slice(2);
const schema = await readFile(schemaPath, 'utf8');
for (const file of files) {
  const result = await validateXML({
    xml: [{ fileName: file, contents: await readFile(file, 'utf8') }],
    schema: [schema],
  });
  console.log(JSON.stringify({ file, valid: result.valid, errors: result.errors.map((e) => e.rawMessage) }));
}
