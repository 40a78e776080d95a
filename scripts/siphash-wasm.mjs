// npm run wasm: compiles src/pseudonym/siphash.wat into src/pseudonym/siphash-wasm.ts (its bytes, in
// base64), which is committed: the build and the run need no WebAssembly tools. test/siphash.test.ts
// compiles the .wat again and fails if the two differ.
import { readFileSync, writeFileSync } from 'node:fs';
import wabt from 'wabt';

export async function compileSipHashWat() {
  const tools = await wabt();
  const mod = tools.parseWat('siphash.wat', readFileSync(new URL('../src/pseudonym/siphash.wat', import.meta.url), 'utf8'), { multi_value: true });
  try {
    mod.validate();
    return Buffer.from(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

export function moduleText(bytes) {
  return `// Written by scripts/siphash-wasm.mjs from siphash.wat (npm run wasm): do not edit.
/** siphash.wat, compiled (${bytes.length} bytes). */
export const SIPHASH_WASM = '${bytes.toString('base64')}';
`;
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  writeFileSync(new URL('../src/pseudonym/siphash-wasm.ts', import.meta.url), moduleText(await compileSipHashWat()));
}
