// Writes, for each finding of `meshcert check -o json` on stdin, the
// workflow command the GitHub Actions toolkit (@actions/core) writes for an
// annotation with the same title, file, line, column and message.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const core = await import(pathToFileURL(join(process.env.MESHCERT_NODE_MODULES, '@actions', 'core', 'lib', 'core.js')));

let input = '';
for await (const chunk of process.stdin) input += chunk;

const commands = { error: core.error, warning: core.warning, info: core.notice };
for (const f of JSON.parse(input).findings) {
  const o = f.object;
  const ref = `${o.kind} ${o.namespace ? o.namespace + '/' : ''}${o.name || '(unnamed)'}`;
  const properties = { title: `${f.code} ${ref}` };
  if (f.file && f.file !== '<stdin>') {
    properties.file = f.file;
    properties.startLine = f.line;
    properties.startColumn = f.column;
  }
  commands[f.severity](f.field ? `${f.field}: ${f.message}` : f.message, properties);
}
