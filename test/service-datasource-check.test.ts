// Creating a dataset on a folder the server does not have is refused at creation (400 naming
// `datasource`, nothing stored), not when a run starts; `datasourceCheck: false` (serve's
// --no-datasource-check) accepts it for data only the workers mount. S3 datasources are not checked.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { buildApp } from "../src/server/app.js";
import { LocalStorage } from "../src/server/storage.js";
import { tempDir } from "./helpers/data-images.js";

test("a missing datasource folder is refused at creation unless the server is told only workers see the data", async () => {
  const dir = tempDir("winnow-datasource-check-");
  fs.mkdirSync(path.join(dir, "root", "imgs", "sub"), { recursive: true });
  fs.writeFileSync(path.join(dir, "root", "a-file"), "x");
  const db = await openDb(path.join(dir, "w.db"));
  await migrate(db);
  const store = new Store(db);
  const { token, owner } = await store.createToken("a");
  const appWith = (datasourceCheck?: boolean) =>
    buildApp({ store, storage: new LocalStorage(path.join(dir, "art")), datasourceRoot: path.join(dir, "root"), signingSecret: "00", publicUrl: () => "", datasourceCheck }).app;
  const checked = appWith();
  const unchecked = appWith(false);
  const create = (app: ReturnType<typeof appWith>, name: string, datasource: string) =>
    app.inject({ method: "POST", url: "/v1/datasets", payload: { name, datasource }, headers: { authorization: `Bearer ${token}` } });
  try {
    for (const ds of ["no-such-folder", "imgs/missing"]) {
      const r = await create(checked, `ghost-${ds}`, ds);
      assert.equal(r.statusCode, 400, r.body);
      assert.equal(r.json().field, "datasource");
      assert.equal(r.json().message, `datasource ${JSON.stringify(ds)}: no such folder under the server's datasource root; nothing was created`);
    }
    const file = await create(checked, "file", "a-file");
    assert.equal(file.statusCode, 400);
    assert.match(file.json().message, /"a-file" is not a folder/);
    assert.deepEqual(await store.listDatasets(owner), [], "nothing was created");
    assert.equal((await create(checked, "ok", "imgs/sub/")).statusCode, 201);
    assert.equal((await create(checked, "bucket", "s3://bucket/prefix")).statusCode, 201, "an S3 prefix is the workers' to read");
    // Off: a folder only the workers mount is accepted; paths out of the root are still refused.
    assert.equal((await create(unchecked, "worker-only", "no-such-folder")).statusCode, 201);
    assert.equal((await create(unchecked, "out", "../x")).json().field, "datasource");
    assert.deepEqual((await store.listDatasets(owner)).map((d) => [d.name, d.datasource]).sort(), [["bucket", "s3://bucket/prefix/"], ["ok", path.join("imgs", "sub")], ["worker-only", "no-such-folder"]]);
  } finally {
    await checked.close();
    await unchecked.close();
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
