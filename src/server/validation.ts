// Route schemas are the zod schemas of schemas.ts, given to fastify as they are: this compiler
// validates with them (so the OpenAPI document, generated from the same schemas, cannot disagree),
// fastify hands the parsed value (defaults filled in) to the handler, and the type provider types
// `req.body`/`req.query`/`req.params` from the schema. A refusal names the first offending field.
import type { FastifySchemaCompiler, FastifyTypeProvider } from "fastify";
import type { z } from "zod";
import { HttpError } from "./http-error.js";

export interface ZodTypeProvider extends FastifyTypeProvider {
  validator: this["schema"] extends z.ZodType ? z.output<this["schema"]> : unknown;
  serializer: this["schema"] extends z.ZodType ? z.input<this["schema"]> : unknown;
}

/**
 * Query parameters validated one value at a time (today's `state`, `type`): a refusal names them in
 * the message only, as the API always has, where a query schema's other fields are also its `field`.
 */
const UNNAMED_FIELDS = new WeakSet<z.ZodType>();

/** Marks a query schema whose refusals carry no `field` (the message still says query.<name>). */
export function unnamedQuery<S extends z.ZodType>(schema: S): S {
  UNNAMED_FIELDS.add(schema);
  return schema;
}

/** The first issue of a failed parse as the API's 400: "<where>.<field>: <message>", naming the field. */
export function invalid(error: z.ZodError, where: string, named = true): HttpError {
  const i = error.issues[0]!;
  const field = i.path.map(String).join(".");
  return new HttpError(400, `${where}${field ? `.${field}` : ""}: ${i.message}`, named ? field || undefined : undefined);
}

/** `value` (missing: {}) parsed by `schema`, or the API's 400 naming the field. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  throw invalid(r.error, where);
}

const WHERE: Record<string, string> = { body: "body", querystring: "query", params: "params", headers: "headers" };

export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart }) => {
  const where = WHERE[httpPart ?? "body"] ?? "body";
  const named = !UNNAMED_FIELDS.has(schema);
  return (data: unknown) => {
    const r = schema.safeParse(data ?? {});
    return r.success ? { value: r.data } : { error: invalid(r.error, where, named) };
  };
};
