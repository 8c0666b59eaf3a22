// The shape of the API's route plugins: registered with the shared RouteContext, typed by the zod
// type provider (validation.ts) so a route's params, query and body have its schema's types.
import type { FastifyPluginAsync, RawServerDefault } from "fastify";
import type { RouteContext } from "../route-context.js";
import type { ZodTypeProvider } from "../validation.js";

export type ApiPlugin = FastifyPluginAsync<{ ctx: RouteContext }, RawServerDefault, ZodTypeProvider>;
