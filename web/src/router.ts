// Path routing under /ui/ with the History API (the server answers index.html for every /ui/ path).
import { useEffect, useState } from "preact/hooks";

export const BASE = "/ui";

const current = (): string => {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  return (p || "/") + location.search;
};

export function navigate(to: string, replace = false): void {
  const url = BASE + to;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  dispatchEvent(new PopStateEvent("popstate"));
}

/** The current path (after /ui) and query, re-rendered on navigation. */
export function useRoute(): { path: string; query: URLSearchParams } {
  const [r, setR] = useState(current());
  useEffect(() => {
    const f = (): void => setR(current());
    addEventListener("popstate", f);
    return () => removeEventListener("popstate", f);
  }, []);
  const [path, q = ""] = r.split("?");
  return { path: path!, query: new URLSearchParams(q) };
}

/** A link that routes inside the app (and still opens in a new tab on middle/ctrl click). */
export function linkProps(to: string): { href: string; onClick: (e: MouseEvent) => void } {
  return {
    href: BASE + to,
    onClick: (e: MouseEvent) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      navigate(to);
    },
  };
}
