#!/usr/bin/env node
// The `worldswitch` command (built by `npm run build`, which `npm ci` runs through `prepare`).
import { main } from '../dist/cli/main.js';

// a reader that went away (`worldswitch host | head`) ends the command quietly
process.stdout.on('error', (e) => { if (e.code === 'EPIPE') process.exit(0); throw e; });

main(process.argv).then((code) => { process.exitCode = code; });
