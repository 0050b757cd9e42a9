// Removes what an earlier build left in dist/ for a source file that has since been moved or
// deleted. tsc never deletes its old outputs, and Node resolves `./name` to a stale `name.js`
// before a newer `name/index.js`: a moved module would load its old self.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = join(root, 'dist');
const OUTPUT = /\.(js|js\.map|d\.ts|d\.ts\.map)$/;

function sweep(folder) {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) {
      sweep(path);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
      continue;
    }
    if (!OUTPUT.test(entry.name)) continue;
    const source = join(root, relative(dist, path)).replace(OUTPUT, '.ts');
    if (!existsSync(source)) rmSync(path);
  }
}

for (const top of ['apps', 'libs']) if (existsSync(join(dist, top))) sweep(join(dist, top));
