// Compiles crates/chain/contracts/*.sol with solc-js through its standard JSON interface and
// writes (or, in check mode, compares) one build/<Name>.json per contract:
//   {contractName, solcVersion, settings, abi, bytecode}
// Called by scripts/compile-contracts.sh, which fetches the pinned compiler:
//   node compile-contracts.js <solc package dir> <solc version> <contracts dir> write|check
'use strict';

const fs = require('fs');
const path = require('path');

// Every setting that shapes the bytecode. "paris" (no PUSH0, MCOPY or transient storage)
// runs on anvil's default hardfork and on any chain from the Merge on.
const SETTINGS = {
  evmVersion: 'paris',
  optimizer: { enabled: true, runs: 200 },
};

function fail(message) {
  console.error(message);
  process.exit(1);
}

function main() {
  const [solcDir, pinnedVersion, contractsDir, mode] = process.argv.slice(2);
  if (!solcDir || !pinnedVersion || !contractsDir || !['write', 'check'].includes(mode)) {
    fail('usage: node compile-contracts.js <solc dir> <solc version> <contracts dir> write|check');
  }
  const solc = require(path.resolve(solcDir));
  // "0.8.30+commit.73712a01.Emscripten.clang": keep the release and its commit.
  const solcVersion = solc.version().replace(/\.Emscripten\.clang$/, '');
  if (!solcVersion.startsWith(`${pinnedVersion}+`)) {
    fail(`solc reports ${solc.version()}, expected ${pinnedVersion}`);
  }

  // Sources are keyed by bare file name: the key is part of the metadata hashed into the
  // bytecode, so it must not depend on where the repository is checked out.
  const files = fs.readdirSync(contractsDir).filter((f) => f.endsWith('.sol')).sort();
  if (files.length === 0) {
    fail(`no .sol file in ${contractsDir}`);
  }
  const sources = {};
  for (const file of files) {
    sources[file] = { content: fs.readFileSync(path.join(contractsDir, file), 'utf8') };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      ...SETTINGS,
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));

  // Warnings fail the build too: these contracts are small enough to have none.
  const problems = output.errors || [];
  for (const problem of problems) {
    console.error(problem.formattedMessage || problem.message);
  }
  if (problems.length > 0) {
    fail(`solc: ${problems.length} error(s) or warning(s)`);
  }

  // One artifact per contract, named after the contract, in a fixed key order.
  const artifacts = new Map();
  for (const file of files) {
    for (const [name, contract] of Object.entries(output.contracts[file] || {})) {
      const bytecode = contract.evm.bytecode.object;
      // An interface has no bytecode: only deployable contracts get an artifact.
      if (bytecode.length === 0) {
        continue;
      }
      if (artifacts.has(name)) {
        fail(`two contracts named ${name}`);
      }
      const artifact = {
        contractName: name,
        solcVersion,
        settings: SETTINGS,
        abi: contract.abi,
        bytecode: `0x${bytecode}`,
      };
      artifacts.set(name, `${JSON.stringify(artifact, null, 2)}\n`);
    }
  }

  const buildDir = path.join(contractsDir, 'build');
  // Build files of contracts that no longer exist.
  const leftovers = fs.existsSync(buildDir)
    ? fs.readdirSync(buildDir).filter((f) => f.endsWith('.json') && !artifacts.has(f.slice(0, -5)))
    : [];
  if (mode === 'check') {
    let stale = 0;
    for (const file of leftovers) {
      console.error(`${path.join(buildDir, file)}: no such contract in the sources`);
      stale += 1;
    }
    for (const [name, text] of artifacts) {
      const file = path.join(buildDir, `${name}.json`);
      const committed = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
      if (committed !== text) {
        console.error(`${file}: ${committed === null ? 'missing' : 'differs from a fresh compile'}`);
        stale += 1;
      }
    }
    if (stale > 0) {
      fail('build files are stale: run scripts/compile-contracts.sh and commit them');
    }
    console.log(`build files match solc ${solcVersion} (${artifacts.size} contracts)`);
    return;
  }
  fs.mkdirSync(buildDir, { recursive: true });
  for (const file of leftovers) {
    fs.rmSync(path.join(buildDir, file));
    console.log(`removed ${path.join(buildDir, file)}`);
  }
  for (const [name, text] of artifacts) {
    fs.writeFileSync(path.join(buildDir, `${name}.json`), text);
    console.log(`wrote ${path.join(buildDir, `${name}.json`)}`);
  }
}

main();
