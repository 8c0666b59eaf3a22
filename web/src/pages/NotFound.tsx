import { useTitle } from "../useTitle.ts";
import { linkProps } from "../router.ts";

/** Also what another owner's record looks like: the API answers 404 for both. */
export function NotFound(p: { what: string; id: string; message?: string }) {
  useTitle("Not found");
  return (
    <section class="notfound" data-testid="not-found">
      <h1>Not found</h1>
      <p>
        No {p.what} <code>{p.id}</code> here. It does not exist, or it belongs to another token's owner.
      </p>
      {p.message && <p class="muted">{p.message}</p>}
      <p><a {...linkProps("/runs")}>Back to the runs</a></p>
    </section>
  );
}
