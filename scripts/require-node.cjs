// The version guard that `npm start`, `npm test` and the other scripts run first.
// On a Node older than package.json's `engines.node`, it stops with one clear message
// naming the version needed and how to get it, instead of a stack trace from deep
// inside wrangler or vitest. Written in plain CommonJS with old syntax on purpose: it
// has to run, and say so, on exactly the Node versions it refuses.
"use strict";
var fs = require("fs");
var path = require("path");

/** "22.12.0" -> [22, 12, 0]; anything else -> null. */
function parseVersion(text) {
  var match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(String(text).trim());
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : null;
}

/** The minimum from an engines range of the form ">=X.Y.Z" (the only form we write). */
function minimumFromEngines(range) {
  var match = /^\s*>=\s*(\d+\.\d+\.\d+)\s*$/.exec(String(range));
  if (!match) throw new Error('package.json engines.node must be ">=X.Y.Z", not ' + JSON.stringify(range));
  return match[1];
}

function atLeast(actual, minimum) {
  for (var i = 0; i < 3; i++) {
    if (actual[i] !== minimum[i]) return actual[i] > minimum[i];
  }
  return true;
}

/** null when `running` satisfies `minimum`, else the message to print. */
function checkNodeVersion(running, minimum) {
  var actual = parseVersion(running);
  var wanted = parseVersion(minimum);
  if (actual && wanted && atLeast(actual, wanted)) return null;
  return [
    "This project needs Node " + minimum + " or newer (24 LTS recommended); this is Node " + String(running).replace(/^v/, "") + ".",
    "Get it with:  source scripts/use-node.sh   (installs Node 24 into .tools/ and puts it first on PATH for this shell)",
    "or install Node 24 LTS from nodejs.org or with nvm / fnm, then run the command again.",
  ].join("\n");
}

module.exports = { checkNodeVersion: checkNodeVersion, minimumFromEngines: minimumFromEngines };

if (require.main === module) {
  var pkg = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8"));
  var problem = checkNodeVersion(process.versions.node, minimumFromEngines(pkg.engines && pkg.engines.node));
  if (problem) {
    process.stderr.write(problem + "\n");
    process.exit(1);
  }
}
