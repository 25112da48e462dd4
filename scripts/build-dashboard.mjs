#!/usr/bin/env node
// Copies the dashboard's third-party assets (uPlot, from its npm package) next
// to our own under dashboard/public/vendor, where Workers Static Assets serve
// them. The copies are build output (git-ignored), never edited by hand.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const vendor = join(root, "dashboard", "public", "vendor");
mkdirSync(vendor, { recursive: true });
for (const file of ["uPlot.iife.min.js", "uPlot.min.css"]) {
  copyFileSync(join(root, "node_modules", "uplot", "dist", file), join(vendor, file));
}
