// Each page names itself in the tab title (several tabs of the UI are told apart).
import { useEffect } from "preact/hooks";

export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Winnow`;
  }, [title]);
}
