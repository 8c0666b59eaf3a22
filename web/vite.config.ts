// Builds the web UI into web/dist, which `winnow serve` serves under /ui/ (src/server/ui-static.ts).
// Everything is bundled: the page loads nothing from other origins at run time.
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/ui/",
  // Preact's automatic JSX runtime (no Babel plugin).
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  resolve: { alias: { react: "preact/compat", "react-dom": "preact/compat" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // The server's CSP allows no inline script; the entry loads its chunks itself.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 800,
  },
  logLevel: "warn",
});
