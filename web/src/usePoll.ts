// Loads data now and again every `ms` while `live` (the page shows runs as they change).
import { useEffect, useRef, useState } from "preact/hooks";

export function usePoll<T>(load: () => Promise<T>, deps: unknown[], ms = 2000, live: (v: T) => boolean = () => true): { data: T | null; error: Error | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async (): Promise<void> => {
      try {
        const v = await loadRef.current();
        if (stop) return;
        setData(v);
        setError(null);
        if (live(v)) timer = setTimeout(run, ms);
      } catch (e) {
        if (stop) return;
        setError(e as Error);
        if ((e as { status?: number }).status !== 404) timer = setTimeout(run, ms * 2);
      }
    };
    void run();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}
