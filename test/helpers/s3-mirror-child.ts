// Child process of test/s3-mirror.test.ts: mirrors each s3:// URL given (into argv[2]) in turn and
// prints, as JSON, its peak RSS (maxRSS, KiB) after each and the mirror folders, to show memory stays flat in object size.
import { mirrorS3Prefix } from "../../src/data/s3-mirror.js";

const [root, ...urls] = process.argv.slice(2);
const peaks: number[] = [];
const dirs: string[] = [];
for (const url of urls) {
  dirs.push((await mirrorS3Prefix(url, root!, { concurrency: 1 })).dir);
  peaks.push(process.resourceUsage().maxRSS);
}
console.log(JSON.stringify({ peaks, dirs }));
