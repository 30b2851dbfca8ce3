// Run by each package's build after its CommonJS compile (tsconfig.cjs.json, to dist/cjs):
// marks dist/cjs as CommonJS, so Node and TypeScript read the .js and .d.ts files there as
// CommonJS although the package itself is "type": "module".
import { mkdirSync, writeFileSync } from 'node:fs';

mkdirSync('dist/cjs', { recursive: true });
writeFileSync('dist/cjs/package.json', '{ "type": "commonjs" }\n');
