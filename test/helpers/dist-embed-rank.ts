// One rank of test/distributed-embed.test.ts: embeds the prepared cache over the group (torchrun's
// environment) into DIST_OUT/rank-<r>/ and prints one JSON line.
import * as fs from "node:fs";
import * as path from "node:path";
import * as torch from "../../src/torch/index.js";
import { initProcessGroup, liveProcessGroups } from "../../src/distributed/index.js";
import { parseLightlyConfig } from "../../src/config/lightly-config.js";
import { prepareImages, embedImages } from "../../src/pipeline/index.js";

torch.setNumThreads(1);
const baseline = torch.liveTensors();
const config = parseLightlyConfig(JSON.parse(process.env.DIST_CONFIG!));
const out = path.join(process.env.DIST_OUT!, `rank-${process.env.RANK}`);
const cache = await prepareImages(process.env.DIST_IMAGES!, { cacheDir: process.env.DIST_CACHE!, config });
const pg = initProcessGroup({ timeoutMs: 20_000 });
const r = embedImages({ cache, config, outDir: out, processGroup: pg, checkpoint: process.env.DIST_CKPT || undefined });
pg.destroy();
cache.close();
process.stdout.write(JSON.stringify({ rank: pg.rank, files: fs.readdirSync(out).sort(), csv: r.csvPath, n: r.n, leaked: torch.liveTensors() - baseline, groups: liveProcessGroups() }) + "\n");
