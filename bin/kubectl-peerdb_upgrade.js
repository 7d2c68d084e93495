#!/usr/bin/env node
// kubectl plugin entry point: kubectl runs `kubectl-peerdb_upgrade` for `kubectl peerdb-upgrade …`.
// The CLI sees this file's name in argv[1] and calls itself `kubectl peerdb-upgrade` in its help.
require('./peerdb-upgrade.js');
