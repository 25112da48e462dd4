/**
 * CPU time of the servers under test, from Linux /proc: for a whole process group
 * (`npm run bench`, whose servers each lead one) or for one process
 * (scripts/bench-isolates.mjs).
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout?.trim()) || 100;

/** The fields of /proc/<pid>/stat after the ")" that closes the command name: state ppid pgrp ... utime(12th) stime(13th). */
function statFields(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** CPU seconds (user + system) used so far by every process in the process group led by pgid. */
export function groupCpuSeconds(pgid) {
  let ticks = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    let fields;
    try {
      fields = statFields(pid);
    } catch {
      continue;
    }
    if (Number(fields[2]) === pgid) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLOCK_TICKS;
}

/** CPU seconds (user + system) one process has used so far, or null where there is no /proc. */
export function processCpuSeconds(pid) {
  try {
    const fields = statFields(pid);
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
