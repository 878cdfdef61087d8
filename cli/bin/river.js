#!/usr/bin/env node
// The `river` command as linked by npm into node_modules/.bin (workspace or installed package).
import '../dist/main.js';
