#!/usr/bin/env node
// The CLI ships as one bundle (see scripts/build.mjs): start-up time is paid by every CI step.
import module from 'node:module';

// Node 22.1+ keeps compiled code between runs; on Node 20 this is a no-op.
module.enableCompileCache?.();
const { main } = await import('../dist/cli.js');

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    // main() maps every error it knows; reaching here is a bug in peerdb-upgrade itself.
    console.error('peerdb-upgrade: internal error, please report this:', error);
    process.exitCode = 1;
  },
);
