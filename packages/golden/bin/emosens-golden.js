#!/usr/bin/env node
// The published command; the CLI itself is compiled to dist/ (in the repository, `pnpm golden <dir>` runs the sources).
import '../dist/cli.js';
