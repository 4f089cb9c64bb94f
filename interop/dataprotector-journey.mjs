// iExec's DataProtector SDK (npm @iexec/dataprotector, pinned in package.json), unmodified,
// against a Confide dev stack started with `confide dev up --chain-id 421614`.
//
// Usage: node dataprotector-journey.mjs CONFIG.json STEP
// CONFIG holds `options` (what `confide dev status --raw` prints as `dataProtector`), the
// dev keys (`ownerKey`, `requesterKey`, `newOwnerKey`), the app to grant (`app`) and, for
// the cross steps, a protected data made by `confide` (`confideProtectedData`).
// STEP is one of: protect, find, grant, process, process-confide, revoke, transfer, bulk.
// Each prints one JSON object on stdout; the Rust test (crates/cli/tests/dataprotector_sdk.rs)
// runs the steps in order and checks what each says.

import { readFileSync } from 'node:fs';
import { IExecDataProtectorCore, getWeb3Provider } from '@iexec/dataprotector';

const [configPath, step] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const { options } = config;

const core = (key) =>
  new IExecDataProtectorCore(getWeb3Provider(key, options.rpcUrl, { allowExperimentalNetworks: true }), {
    dataprotectorContractAddress: options.dataprotectorContractAddress,
    subgraphUrl: options.subgraphUrl,
    ipfsNode: options.ipfsNode,
    ipfsGateway: options.ipfsGateway,
    iexecOptions: options.iexecOptions,
    allowExperimentalNetworks: true,
  });

// A 1x1 PNG, so the SDK sniffs `image/png`.
const png = Uint8Array.from(
  Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
    'base64',
  ),
);

const lower = (s) => s.toLowerCase();
const print = (value) =>
  process.stdout.write(JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');

async function protect() {
  const owner = core(config.ownerKey);
  const statuses = [];
  const protectedData = await owner.protectData({
    name: 'sdk-alice',
    data: {
      email: 'alice@example.com',
      profile: { age: 42.5, score: 12345678901234567890n, verified: true },
      photo: png,
    },
    onStatusUpdate: ({ title, isDone }) => isDone && statuses.push(title),
  });
  return {
    address: protectedData.address,
    owner: protectedData.owner,
    schema: protectedData.schema,
    multiaddr: protectedData.multiaddr,
    statuses,
  };
}

async function find() {
  const reader = core(config.requesterKey);
  const byOwner = await reader.getProtectedData({ owner: config.ownerAddress });
  const bySchema = await reader.getProtectedData({ requiredSchema: { email: 'string', profile: { age: 'f64' } } });
  const byOne = await reader.getProtectedData({ protectedDataAddress: config.sdkProtectedData });
  const byWrongSchema = await reader.getProtectedData({ requiredSchema: { email: 'bool' } });
  return {
    byOwner: byOwner.map((p) => lower(p.address)),
    bySchema: bySchema.map((p) => lower(p.address)),
    one: byOne.map((p) => ({ address: lower(p.address), owner: lower(p.owner), schema: p.schema, multiaddr: p.multiaddr })),
    byWrongSchema: byWrongSchema.map((p) => lower(p.address)),
  };
}

async function grant() {
  const owner = core(config.ownerKey);
  const granted = await owner.grantAccess({
    protectedData: config.sdkProtectedData,
    authorizedApp: config.app,
    authorizedUser: config.requesterAddress,
    numberOfAccess: 3,
  });
  let duplicate = null;
  try {
    await owner.grantAccess({
      protectedData: config.sdkProtectedData,
      authorizedApp: config.app,
      authorizedUser: config.requesterAddress,
    });
  } catch (e) {
    duplicate = `${e.message}: ${e.cause?.message ?? e.cause}`;
  }
  const listed = await owner.getGrantedAccess({
    protectedData: config.sdkProtectedData,
    authorizedApp: config.app,
    authorizedUser: config.requesterAddress,
  });
  return {
    granted: { dataset: granted.dataset, apprestrict: granted.apprestrict, requesterrestrict: granted.requesterrestrict, volume: granted.volume },
    duplicate,
    count: listed.count,
    remaining: listed.grantedAccess.map((g) => g.remainingAccess),
  };
}

async function processOne(protectedData) {
  const requester = core(config.requesterKey);
  const statuses = [];
  const outcome = await requester.processProtectedData({
    protectedData,
    app: config.app,
    workerpool: options.workerpool,
    secrets: { 1: 'requester-secret-value' },
    args: 'from-the-sdk',
    encryptResult: true,
    path: 'result.txt',
    onStatusUpdate: ({ title, isDone }) => isDone && statuses.push(title),
  });
  const remaining = await requester.getGrantedAccess({
    protectedData,
    authorizedApp: config.app,
    authorizedUser: config.requesterAddress,
  });
  return {
    dealId: outcome.dealId,
    taskId: outcome.taskId,
    result: Buffer.from(outcome.result).toString('utf8'),
    statuses,
    remaining: remaining.grantedAccess.map((g) => g.remainingAccess),
  };
}

async function until(condition, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting after ${seconds} s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function revoke() {
  const owner = core(config.ownerKey);
  const listed = await owner.getGrantedAccess({ protectedData: config.sdkProtectedData, authorizedApp: config.app });
  const one = await owner.revokeOneAccess(listed.grantedAccess[0]);
  // The market learns of the cancel from the chain, a block or two later (as iExec's
  // does): the grant is gone from the book before a new one for the same app is allowed.
  await until(async () => (await owner.getGrantedAccess({ protectedData: config.sdkProtectedData })).count === 0);
  // A second grant (to anyone), then everything revoked.
  await owner.grantAccess({ protectedData: config.sdkProtectedData, authorizedApp: config.app, numberOfAccess: 2 });
  const all = await owner.revokeAllAccess({ protectedData: config.sdkProtectedData });
  await until(async () => (await owner.getGrantedAccess({ protectedData: config.sdkProtectedData })).count === 0);
  return { revokedOne: one.txHash, revokedAll: all.length, left: 0 };
}

async function transfer() {
  const owner = core(config.ownerKey);
  const moved = await owner.transferOwnership({ protectedData: config.sdkProtectedData, newOwner: config.newOwnerAddress });
  const reader = core(config.requesterKey);
  // The subgraph follows the registry's Transfer a block or two later, as iExec's does.
  let seen = [];
  await until(async () => {
    seen = await reader.getProtectedData({ protectedDataAddress: config.sdkProtectedData });
    return seen.length === 1 && lower(seen[0].owner) === lower(config.newOwnerAddress);
  }).catch(() => {});
  return { to: lower(moved.to), owner: seen.map((p) => lower(p.owner)) };
}

// Bulk processing: five protected data of two owners granted in bulk, one grant revoked
// after the request is prepared, two protected data per task; every result fetched and
// decrypted, then the request inspected through the PoCo subgraph.
async function bulk() {
  const owners = [core(config.ownerKey), core(config.spareKey)];
  const made = [];
  for (let i = 0; i < 5; i++) {
    const owner = owners[i % 2];
    const data = await owner.protectData({ name: `bulk-${i}`, data: { email: `user${i}@example.com` } });
    const grant = await owner.grantAccess({ protectedData: data.address, authorizedApp: config.app, allowBulk: true });
    made.push({ address: lower(data.address), owner, grant });
  }
  const requester = core(config.requesterKey);
  const mine = new Set(made.map((m) => m.address));
  const { grantedAccess } = await requester.getGrantedAccess({ authorizedApp: config.app, bulkOnly: true, pageSize: 1000 });
  const bulkAccesses = grantedAccess.filter((g) => mine.has(lower(g.dataset)));
  const { bulkRequest, pemPrivateKey } = await requester.prepareBulkRequest({
    bulkAccesses,
    app: config.app,
    workerpool: options.workerpool,
    maxProtectedDataPerTask: 2,
    encryptResult: true,
  });
  // Revoked after the request is signed: the SMS must refuse its key, and only its key.
  const revoked = made[1];
  await revoked.owner.revokeOneAccess(revoked.grant);
  const processed = await requester.processBulkRequest({
    bulkRequest,
    workerpool: options.workerpool,
    waitForResult: true,
    pemPrivateKey,
    path: 'result.txt',
  });
  const inspected = await requester.inspectBulkRequest({
    bulkRequest,
    detailed: true,
    withResult: true,
    pemPrivateKey,
    path: 'result.txt',
  });
  const text = (result) => (result ? Buffer.from(result).toString('utf8') : null);
  return {
    granted: bulkAccesses.map((g) => ({ dataset: lower(g.dataset), volume: g.volume, datasetprice: g.datasetprice })),
    revoked: revoked.address,
    volume: Number(bulkRequest.volume),
    processed: processed.tasks.map((t) => ({ bulkIndex: t.bulkIndex, success: t.success, status: t.status, result: text(t.result), error: t.error?.message })),
    status: inspected.bulkStatus,
    counts: { total: inspected.tasksTotalCount, completed: inspected.tasksCompletedCount, toCreate: inspected.tasksToCreateCount },
    inspected: inspected.tasks.map((t) => ({
      taskId: t.taskId,
      bulkIndex: t.bulkIndex,
      status: t.status,
      protectedData: (t.protectedDataAddresses ?? []).map(lower),
      result: text(t.result),
    })),
  };
}

const steps = {
  protect,
  find,
  grant,
  process: () => processOne(config.sdkProtectedData),
  'process-confide': () => processOne(config.confideProtectedData),
  revoke,
  transfer,
  bulk,
};

try {
  if (!steps[step]) throw new Error(`unknown step ${step}`);
  print({ ok: true, ...(await steps[step]()) });
} catch (e) {
  print({ ok: false, error: e.message, cause: e.cause ? String(e.cause.message || e.cause) : undefined });
  process.exitCode = 1;
}
