// A button for a destructive action that asks first, in the page (not a blocking window.confirm):
// the question names what will happen; focus moves to "Keep" so Enter does not confirm by accident.
import { useEffect, useRef, useState } from "preact/hooks";

export function ConfirmButton(p: { label: string; question: string; confirmLabel: string; onConfirm: () => Promise<unknown>; testid: string }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const keep = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) keep.current?.focus();
  }, [asking]);
  if (!asking) {
    return <button type="button" class="danger" data-testid={p.testid} onClick={(e) => (e.stopPropagation(), setAsking(true))}>{p.label}</button>;
  }
  const yes = async (): Promise<void> => {
    setBusy(true);
    try {
      await p.onConfirm();
      setAsking(false);
    } catch (e) {
      setErr((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="confirm" role="group" aria-label={p.question} onClick={(e) => e.stopPropagation()}>
      <span>{p.question}</span>{" "}
      <button type="button" class="danger" disabled={busy} data-testid={`${p.testid}-confirm`} onClick={yes}>{p.confirmLabel}</button>{" "}
      <button type="button" ref={keep} disabled={busy} onClick={() => setAsking(false)}>Keep</button>
      {err && <span class="error" role="alert"> {err}</span>}
    </span>
  );
}
