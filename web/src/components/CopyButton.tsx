// Copies a text to the clipboard (navigator.clipboard where the page is a secure context, else a
// selected textarea); the button says "Copied" for a moment and keeps the text in data-copy.
import { useState } from "preact/hooks";

export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const ta = document.createElement("textarea");
  ta.value = text;
  ta.style.position = "fixed";
  ta.style.opacity = "0";
  document.body.appendChild(ta);
  ta.select();
  document.execCommand("copy");
  ta.remove();
}

export function CopyButton(p: { text: string | (() => Promise<string>); label?: string; title?: string; testid?: string }) {
  const [state, setState] = useState<"idle" | "done" | "error">("idle");
  const [copied, setCopied] = useState<string | null>(null);
  return (
    <button
      type="button"
      class="copy"
      title={p.title ?? "Copy to the clipboard"}
      data-testid={p.testid}
      data-copy={typeof p.text === "string" ? p.text : undefined}
      data-copied={copied ?? undefined}
      onClick={async (e) => {
        e.stopPropagation();
        e.preventDefault();
        try {
          const t = typeof p.text === "string" ? p.text : await p.text();
          await copyText(t);
          setCopied(t);
          setState("done");
        } catch {
          setState("error");
        }
        setTimeout(() => setState("idle"), 1500);
      }}
    >
      {state === "done" ? "Copied" : state === "error" ? "Copy failed" : (p.label ?? "Copy")}
    </button>
  );
}
