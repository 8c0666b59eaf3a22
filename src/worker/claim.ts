// What the server answers to a worker's claim: typed once in the client layer (below both ends,
// src/client/claim-response.ts), built by src/server/routes/claims.ts and read here.
export type { ClaimResponse as Claim } from "../client/claim-response.js";
