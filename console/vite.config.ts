import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

const outDir = fileURLToPath(new URL('../dist/console', import.meta.url));

/**
 * The build rewrites dist/console in place instead of emptying it first, so a registry serving it
 * meanwhile (tests run `npm start` next to others) never finds it missing; then it deletes the
 * assets of earlier builds.
 */
function removeStaleAssets(): Plugin {
  return {
    name: 'remove-stale-assets',
    apply: 'build',
    async writeBundle(_options, bundle) {
      const current = new Set(Object.keys(bundle));
      const assets = join(outDir, 'assets');
      for (const file of await readdir(assets).catch(() => [])) {
        if (!current.has(`assets/${file}`)) await rm(join(assets, file), { force: true });
      }
    },
  };
}

/**
 * GraphiQL's stylesheet embeds its fonts as data: URLs, which Chromium loads eagerly and the
 * console's Content-Security-Policy (no font-src) refuses; the console uses system fonts, so the
 * @font-face rules are dropped (and 0.4 MB with them).
 */
function dropGraphiQLFonts(): Plugin {
  return {
    name: 'drop-graphiql-fonts',
    transform(code, id) {
      if (!/[\\/]graphiql[\\/]dist[\\/]style\.css/.test(id.split('?')[0]!)) return null;
      return { code: code.replace(/@font-face\s*{[^}]*}/g, ''), map: null };
    },
  };
}

// `npm run build` builds the console into dist/console, which src/http/console.routes.ts serves at `/`.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [react(), dropGraphiQLFonts(), removeStaleAssets()],
  // GraphiQL's dialogs would add <style> elements the CSP refuses; see src/styleSingleton.ts.
  resolve: { alias: { 'react-style-singleton': fileURLToPath(new URL('src/styleSingleton.ts', import.meta.url)) } },
  build: {
    outDir,
    emptyOutDir: false,
    // Chromium, Firefox and Safari support modulepreload; no polyfill to ship.
    modulePreload: { polyfill: false },
    sourcemap: true,
    // The GraphQL explorer's chunk (GraphiQL, CodeMirror, graphql-js: ~750 kB) loads only when it is opened.
    chunkSizeWarningLimit: 800,
  },
  // The registry serves the console; during `vite dev` proxy the API to it.
  server: {
    proxy: {
      '/graphql': { target: 'http://127.0.0.1:4000', ws: true },
      '/oauth': 'http://127.0.0.1:4000',
      // The Host header is forwarded as is, so the registry sees the dev server's origin as its own (the session's Origin check).
      '/console/session': 'http://127.0.0.1:4000',
    },
  },
});
