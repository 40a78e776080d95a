// npm run build, second step: the command line's modules (dist/, from tsc) joined into a few files in
// dist/bundle/, which bin/anonymise-dump.js loads when they are there. Node resolved and read ~120
// modules one by one at every start: 0.17 s to print an error against 0.14 s bundled, about a tenth of
// a keep-only pass over a 300 MB archive. Packages stay where npm put them (imported, not copied);
// workers run from dist/ as they are (they start once per run, not per command). The bundle sits two
// levels down, as every dist/ module does, so paths the code takes from its own location (the presets
// in rules/, package.json, a worker's script) resolve the same.
import { rmSync } from 'node:fs';
import { build } from 'rolldown';

rmSync('dist/bundle', { recursive: true, force: true });

await build({
  input: 'dist/cli.js',
  platform: 'node',
  // bare specifiers (node: builtins and packages) stay imports
  external: (id) => !id.startsWith('.') && !id.startsWith('/'),
  logLevel: 'warn',
  // a module both imported and loaded lazily stays where it is: nothing to warn about
  onLog(level, log, handler) {
    if (log.code !== 'INEFFECTIVE_DYNAMIC_IMPORT') handler(level, log);
  },
  output: { dir: 'dist/bundle', format: 'esm', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
});
