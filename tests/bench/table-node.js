// SPDX-License-Identifier: LGPL-2.1-or-later
//
// table-node.js: the Node.js contenders of issue 9's one table, Electron's
// runtime family, printing the same tab-separated records as bench-table
// (run-table collects both).
//
//   node-fork    child_process.fork() with serialization: 'advanced' (V8's
//                structured clone over the IPC socket, as Electron's IPC
//                serializes): process.send() of a string, echoed by the child
//   node-worker  a worker_threads MessagePort (MessageChannel, one end
//                transferred to a Worker): postMessage() of a string, echoed
//
// Measured: the echo round trip of one string of 64 B, 4 KiB, 64 KiB, 1 MiB
// (rounds alternate between the two, median of every call); CPU time of both
// sides per 10,000 64-byte round trips (process.cpuUsage(): user + system;
// for the worker, the whole process, which holds both ends); one-way
// messages/s (N strings, the receiver counts and answers after the last);
// for the port rows, a 64-character string's round trip and 1 MiB
// bandwidth (a Uint8Array posted, copied by structured clone as a port
// copies, the receiver reads one byte per 4 KiB page and answers).
//
// Usage: node table-node.js [--quick]
'use strict';

const { fork } = require('child_process');
const { Worker, MessageChannel } = require('worker_threads');

const SIZES = [64, 4096, 65536, 1048576];

// ---- the far ends -----------------------------------------------------------

if (process.argv[2] === '--child') {
  let counting = 0;
  let counted = 0;
  process.on('message', (m) => {
    if (typeof m === 'string') {
      if (counting === 0) { process.send(m); return; }
      if (++counted === counting) { counting = 0; process.send({ counted }); }
      return;
    }
    if (m.cmd === 'count') { counting = m.n; counted = 0; return; }
    if (m.cmd === 'cpu') { process.send({ cpu: process.cpuUsage() }); return; }
  });
  process.on('disconnect', () => process.exit(0));
  return;
}

const workerCode = `
const { parentPort } = require('worker_threads');
parentPort.once('message', (port) => {
  let counting = 0, counted = 0;
  port.on('message', (m) => {
    if (typeof m === 'string') {
      if (counting === 0) { port.postMessage(m); return; }
      if (++counted === counting) { counting = 0; port.postMessage({ counted }); }
      return;
    }
    if (m instanceof Uint8Array) {
      let h = m.length;
      for (let i = 0; i < m.length; i += 4096) h = (h * 31 + m[i]) >>> 0;
      port.postMessage({ digest: h });
      return;
    }
    if (m.cmd === 'count') { counting = m.n; counted = 0; return; }
  });
});
`;

// ---- helpers ----------------------------------------------------------------

function median(a, p = 50) {
  const s = Float64Array.from(a).sort();
  if (s.length === 0) return NaN;
  const x = (p / 100) * (s.length - 1);
  const lo = Math.floor(x);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (x - lo);
}

// A flat one-byte string, as bench-table's ('a' + i % 26): no rope to flatten on the way.
function payload(size) {
  return Buffer.alloc(size, 'abcdefghijklmnopqrstuvwxyz').toString('latin1');
}

const nowUs = () => Number(process.hrtime.bigint()) / 1000;
const cpuUs = (u) => u.user + u.system;

// One request, one answer: a promise per message on an emitter.
function once(emitter) {
  return new Promise((resolve) => emitter.once('message', resolve));
}

// ---- the contenders ---------------------------------------------------------

async function startFork() {
  const child = fork(__filename, ['--child'], { serialization: 'advanced', stdio: 'inherit' });
  await new Promise((resolve, reject) => { child.once('spawn', resolve); child.once('error', reject); });
  return {
    id: 'node-fork',
    call: async (m) => { const p = once(child); child.send(m); return p; },
    post: (m) => child.send(m),
    answer: () => once(child),
    peerCpu: async () => { const p = once(child); child.send({ cmd: 'cpu' }); return cpuUs((await p).cpu); },
    close: () => child.disconnect(),
  };
}

async function startWorker() {
  const worker = new Worker(workerCode, { eval: true });
  const { port1, port2 } = new MessageChannel();
  worker.postMessage(port2, [port2]);
  return {
    id: 'node-worker',
    call: async (m) => { const p = once(port1); port1.postMessage(m); return p; },
    post: (m) => port1.postMessage(m),
    answer: () => once(port1),
    // Both ends are threads of this process: its CPU time holds both.
    peerCpu: null,
    close: async () => { port1.close(); await worker.terminate(); },
  };
}

// ---- main -------------------------------------------------------------------

async function main() {
  const quick = process.argv.includes('--quick');
  const rounds = quick ? 3 : 12;
  const calls = quick ? [100, 50, 10, 2] : [400, 300, 60, 6];
  const sendRounds = quick ? 2 : 5;
  const messages = quick ? 2000 : 20000;
  const bwReps = quick ? 10 : 100;

  const cs = [await startFork(), await startWorker()];
  const rt = cs.map(() => SIZES.map(() => []));
  const cpuSelf = cs.map(() => []);
  const cpuPeer = cs.map(() => []);

  for (let s = 0; s < SIZES.length; s++) {
    const p = payload(SIZES[s]);
    for (const c of cs)
      for (let i = 0; i < calls[s] / 4 + 1; i++) await c.call(p);
    for (let k = 0; k < rounds; k++) {
      for (let j = 0; j < cs.length; j++) {
        const ci = (k + j) % cs.length;
        const c = cs[ci];
        const self0 = cpuUs(process.cpuUsage());
        const peer0 = c.peerCpu ? await c.peerCpu() : 0;
        for (let i = 0; i < calls[s]; i++) {
          const t0 = nowUs();
          const echo = await c.call(p);
          rt[ci][s].push(nowUs() - t0);
          if (echo !== p) throw new Error(`${c.id}: the echo is not what was sent`);
        }
        if (SIZES[s] === 64) {
          // Asked before the self mark: the question's own cost stays out.
          const peer1 = c.peerCpu ? await c.peerCpu() : 0;
          cpuSelf[ci].push((cpuUs(process.cpuUsage()) - self0) / calls[s]);
          if (c.peerCpu) cpuPeer[ci].push((peer1 - peer0) / calls[s]);
        }
      }
    }
  }
  cs.forEach((c, ci) => {
    SIZES.forEach((size, s) => {
      console.log(['rt', c.id, size, median(rt[ci][s]).toFixed(2), median(rt[ci][s], 90).toFixed(2),
        rt[ci][s].length].join('\t'));
    });
    const peer = cpuPeer[ci].length ? (10 * median(cpuPeer[ci])).toFixed(1) : '-1.0';
    console.log(['cpu', c.id, (10 * median(cpuSelf[ci])).toFixed(1), peer, '-1.0'].join('\t'));
  });

  // One-way: N strings, then the receiver's count.
  const rates = cs.map(() => []);
  const small = payload(64);
  for (let k = 0; k < sendRounds; k++) {
    for (let j = 0; j < cs.length; j++) {
      const ci = (k + j) % cs.length;
      const c = cs[ci];
      const t0 = nowUs();
      const done = c.answer();
      c.post({ cmd: 'count', n: messages });
      for (let i = 0; i < messages; i++) c.post(small);
      const a = await done;
      if (a.counted !== messages) throw new Error(`${c.id}: ${a.counted} of ${messages} counted`);
      rates[ci].push(messages * 1e6 / (nowUs() - t0));
    }
  }
  cs.forEach((c, ci) => console.log(['send', c.id, median(rates[ci]).toFixed(0)].join('\t')));

  // The port rows: bench-port's 64-character string, and 1 MiB.
  const w = cs[1];
  const port64 = payload(64);
  const prt = [];
  for (let i = 0; i < rounds * 200; i++) {
    const t0 = nowUs();
    await w.call(port64);
    prt.push(nowUs() - t0);
  }
  console.log(['port-rt', w.id, median(prt).toFixed(2)].join('\t'));
  const mib = new Uint8Array(1048576);
  for (let i = 0; i < mib.length; i++) mib[i] = i * 2654435761 >>> 24;
  const bw = [];
  for (let i = 0; i < bwReps + 5; i++) {
    const t0 = nowUs();
    const a = await w.call(mib);
    if (typeof a.digest !== 'number') throw new Error('node-worker: no digest');
    if (i >= 5) bw.push(1e6 / (nowUs() - t0));
  }
  console.log(['port-bw', w.id, 1048576, median(bw).toFixed(1)].join('\t'));

  for (const c of cs) await c.close();
}

main().catch((e) => { console.error(`table-node: ${e.stack || e}`); process.exit(1); });
