#!/usr/bin/env node
// Prints the per-module mutation scores of one or more Stryker JSON reports as the markdown table rows used in
// docs/security.md ("Mutation testing"). Usage: node scripts/mutation-scores.mjs [reports/mutation/mutation.json ...]
// Score = (killed + timed out) / (killed + timed out + survived + no coverage); ignored (static) mutants are
// listed apart and not counted, as Stryker does.
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
if (files.length === 0) files.push('reports/mutation/mutation.json');
const rows = new Map();
for (const file of files) {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  for (const [name, entry] of Object.entries(report.files)) {
    const c = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, Ignored: 0 };
    for (const m of entry.mutants) if (m.status in c) c[m.status]++;
    rows.set(name, c);
  }
}
let all = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, Ignored: 0 };
const pct = (c) => {
  const detected = c.Killed + c.Timeout;
  const valid = detected + c.Survived + c.NoCoverage;
  return valid === 0 ? 'n/a' : `${((100 * detected) / valid).toFixed(1)} %`;
};
for (const [name, c] of [...rows].sort(([a], [b]) => a.localeCompare(b))) {
  for (const k of Object.keys(all)) all[k] += c[k];
  console.log(`| \`${name}\` | ${c.Killed + c.Timeout} | ${c.Survived} | ${c.NoCoverage} | ${c.Ignored} | **${pct(c)}** |`);
}
console.log(`| all of the above | ${all.Killed + all.Timeout} | ${all.Survived} | ${all.NoCoverage} | ${all.Ignored} | **${pct(all)}** |`);
