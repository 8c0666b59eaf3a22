// An image of the run's dataset, fetched with the token (the API re-encodes it from the datasource).
import { useEffect, useState } from "preact/hooks";
import { blobUrl, thumbPath } from "../api.ts";

export function Thumb(p: { runId: string; file: string; size?: number; class?: string }) {
  const [src, setSrc] = useState<string | null>(null);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    let url: string | null = null;
    let stop = false;
    setSrc(null);
    setErr(null);
    blobUrl(thumbPath(p.runId, p.file, p.size ?? 128)).then(
      (u) => (stop ? URL.revokeObjectURL(u) : ((url = u), setSrc(u))),
      (e) => !stop && setErr((e as Error).message),
    );
    return () => {
      stop = true;
      if (url) URL.revokeObjectURL(url);
    };
  }, [p.runId, p.file, p.size]);
  if (err) return <div class={`thumb missing ${p.class ?? ""}`} title={err}>?</div>;
  return src ? <img class={`thumb ${p.class ?? ""}`} src={src} alt={p.file} title={p.file} /> : <div class={`thumb loading ${p.class ?? ""}`} />;
}
