// A failed run's message as the web UI shows it: the worker's absolute paths are its own business
// (shortened to "…/last-part"), and advice about command-line flags is dropped, since a scheduled
// run cannot pass them (the full message stays in the run's log and the API).
const ABS_PATH = /(^|[\s"'(=])\/(?:[^\s"'():,]+\/)+([^\s"'():,]+)/g;
const CLI_ADVICE = /[^.;()]*(?:^|\s)--[a-z][a-z-]+[^.;()]*[.;]?/g;

export function shownError(message: string): string {
  const short = message.replace(ABS_PATH, (_m, pre: string, last: string) => `${pre}…/${last}`);
  const noCli = short.replace(/\([^()]*\s--[a-z][a-z-]+[^()]*\)/g, "").replace(CLI_ADVICE, "");
  return noCli.replace(/\s{2,}/g, " ").replace(/\s+([.,;:])/g, "$1").trim() || short;
}
